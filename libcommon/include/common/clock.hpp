#pragma once
// Wall-clock time as a parameter (so that tests can move it) and elapsed-time measurement.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace common {

using TimePoint = std::chrono::system_clock::time_point;
using Clock = std::function<TimePoint()>;

// The real wall clock.
Clock system_clock();

// "YYYY-MM-DD HH:MM:SS" in UTC, the format SQLite's datetime('now') writes.
std::string sql_timestamp(TimePoint time);

// Whether `text` is in that form, with or without a fraction of a second (".fff"): the one
// form whose text order is time order, which the SQL comparisons of stored times rely on.
bool is_sql_timestamp(std::string_view text) noexcept;

// "YYYY-MM-DDTHH:MM:SSZ" in UTC, for JSON.
std::string iso8601(TimePoint time);

// Measures elapsed time on the monotonic clock from construction.
class Stopwatch {
public:
    Stopwatch() : m_start(std::chrono::steady_clock::now()) {}
    std::int64_t elapsed_us() const;
    double elapsed_ms() const { return static_cast<double>(elapsed_us()) / 1000.0; }

private:
    std::chrono::steady_clock::time_point m_start;
};

}  // namespace common
