#include "common/clock.hpp"

#include <fmt/chrono.h>

namespace common {

Clock system_clock()
{
    return [] { return std::chrono::system_clock::now(); };
}

std::string sql_timestamp(TimePoint time)
{
    return fmt::format("{:%Y-%m-%d %H:%M:%S}", std::chrono::floor<std::chrono::seconds>(time));
}

std::string iso8601(TimePoint time)
{
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", std::chrono::floor<std::chrono::seconds>(time));
}

std::int64_t Stopwatch::elapsed_us() const
{
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 m_start)
        .count();
}

}  // namespace common
