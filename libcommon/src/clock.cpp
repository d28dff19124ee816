#include "common/clock.hpp"

#include <fmt/chrono.h>

namespace common {

Clock system_clock()
{
    return [] { return std::chrono::system_clock::now(); };
}

// fmt formats a system_clock time_point in local time; broken-down UTC is explicit.
std::string sql_timestamp(TimePoint time)
{
    return fmt::format("{:%Y-%m-%d %H:%M:%S}",
                       fmt::gmtime(std::chrono::system_clock::to_time_t(time)));
}

std::string iso8601(TimePoint time)
{
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                       fmt::gmtime(std::chrono::system_clock::to_time_t(time)));
}

std::int64_t Stopwatch::elapsed_us() const
{
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 m_start)
        .count();
}

}  // namespace common
