#pragma once
// Durations and points in time as people type them on a command line: "7d", "12h", "30m",
// "90s", "2w", or a UTC time such as "2026-11-27", "2026-11-27T10:15:00Z".

#include "common/clock.hpp"

#include <chrono>
#include <string_view>

namespace common {

// "7d" -> 7 days. Units: s, m, h, d, w; a whole number of at least 0 before it.
// Throws Error 64 naming the text when it is not such a duration or overflows.
std::chrono::seconds parse_duration(std::string_view text);

// A UTC time: "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS[.fff]]" or "YYYY-MM-DDTHH:MM[:SS[.fff]][Z]"
// (fractions of a second are dropped); a time without a zone is UTC, as the database stores it.
// Throws Error 64 when it is not one.
TimePoint parse_time(std::string_view text);

// What --since takes: a duration counts back from `now`, else a UTC time.
// Throws Error 64 naming the text when it is neither.
TimePoint parse_since(std::string_view text, TimePoint now);

}  // namespace common
