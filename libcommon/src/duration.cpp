#include "common/duration.hpp"

#include "common/error.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>

namespace common {
namespace {

// Reads exactly `digits` decimal digits at `pos`, advancing it.
std::optional<int> fixed_number(std::string_view text, std::size_t& pos, std::size_t digits)
{
    if (pos + digits > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + digits; ++i) {
        if (text[i] < '0' || text[i] > '9') return std::nullopt;
        value = value * 10 + (text[i] - '0');
    }
    pos += digits;
    return value;
}

bool expect(std::string_view text, std::size_t& pos, char c)
{
    if (pos >= text.size() || text[pos] != c) return false;
    ++pos;
    return true;
}

std::optional<TimePoint> try_parse_time(std::string_view text)
{
    using namespace std::chrono;
    std::size_t pos = 0;
    const auto year = fixed_number(text, pos, 4);
    if (!year || !expect(text, pos, '-')) return std::nullopt;
    const auto month = fixed_number(text, pos, 2);
    if (!month || !expect(text, pos, '-')) return std::nullopt;
    const auto day = fixed_number(text, pos, 2);
    if (!day) return std::nullopt;
    const year_month_day date{std::chrono::year(*year),
                              std::chrono::month(static_cast<unsigned>(*month)),
                              std::chrono::day(static_cast<unsigned>(*day))};
    if (!date.ok()) return std::nullopt;
    TimePoint time = sys_days(date);
    if (pos == text.size()) return time;

    if (!expect(text, pos, 'T') && !expect(text, pos, ' ')) return std::nullopt;
    const auto hour = fixed_number(text, pos, 2);
    if (!hour || *hour > 23 || !expect(text, pos, ':')) return std::nullopt;
    const auto minute = fixed_number(text, pos, 2);
    if (!minute || *minute > 59) return std::nullopt;
    int second = 0;
    if (expect(text, pos, ':')) {
        const auto given = fixed_number(text, pos, 2);
        if (!given || *given > 59) return std::nullopt;
        second = *given;
        // Fractions of a second are accepted and dropped: reports compare whole seconds.
        if (expect(text, pos, '.')) {
            const auto digits = pos;
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
                ++pos;
            if (pos == digits) return std::nullopt;
        }
    }
    expect(text, pos, 'Z');
    if (pos != text.size()) return std::nullopt;
    return time + hours(*hour) + minutes(*minute) + seconds(second);
}

std::optional<std::chrono::seconds> try_parse_duration(std::string_view text)
{
    if (text.size() < 2) return std::nullopt;
    std::int64_t unit = 0;
    switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return std::nullopt;
    }
    const auto digits = text.substr(0, text.size() - 1);
    std::int64_t count = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    if (error != std::errc() || end != digits.data() + digits.size() || count < 0)
        return std::nullopt;
    // Beyond a few thousand years a duration means nothing and time_point arithmetic overflows.
    constexpr std::int64_t limit = std::int64_t{10000} * 366 * 86400;
    if (count > limit / unit) return std::nullopt;
    return std::chrono::seconds(count * unit);
}

}  // namespace

std::chrono::seconds parse_duration(std::string_view text)
{
    if (auto duration = try_parse_duration(text)) return *duration;
    throw Error(Exit::usage, "'{}' is not a duration such as 30m, 12h or 7d", text);
}

TimePoint parse_time(std::string_view text)
{
    if (auto time = try_parse_time(text)) return *time;
    throw Error(Exit::usage, "'{}' is not a UTC time such as 2026-11-27T10:15:00Z", text);
}

TimePoint parse_since(std::string_view text, TimePoint now)
{
    if (auto duration = try_parse_duration(text)) return now - *duration;
    if (auto time = try_parse_time(text)) return *time;
    throw Error(Exit::usage,
                "'{}' is neither a duration (30m, 12h, 7d) nor a UTC time (2026-11-27T10:15:00Z)",
                text);
}

}  // namespace common
