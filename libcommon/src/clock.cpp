#include "common/clock.hpp"

#include <fmt/chrono.h>

#include <algorithm>

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

bool is_sql_timestamp(std::string_view text) noexcept
{
    constexpr std::string_view shape = "DDDD-DD-DD DD:DD:DD";
    if (text.size() < shape.size()) return false;
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    for (std::size_t i = 0; i < shape.size(); ++i)
        if (shape[i] == 'D' ? !digit(text[i]) : text[i] != shape[i]) return false;
    const auto fraction = text.substr(shape.size());
    return fraction.empty() || (fraction.size() > 1 && fraction.front() == '.' &&
                                std::all_of(fraction.begin() + 1, fraction.end(), digit));
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
