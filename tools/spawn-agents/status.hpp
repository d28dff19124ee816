#pragma once
// The live status line spawn-agents keeps on a terminal's stderr.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

namespace spawn_agents {

struct Progress {
    std::size_t agents = 0;
    std::size_t started = 0;  // spawned, whether or not still running
    std::size_t running = 0;
    std::size_t finished = 0;  // ended with success
    std::size_t failed = 0;    // spawn_failed, exit, timeout, signal, cancelled
};

// "SPEC-KIT-933 validate: 4 agents, 4 started, 2 running, 1 finished, 1 failed, 3.2 s"
std::string progress_text(const std::string& label, const Progress& progress,
                          std::chrono::milliseconds elapsed);

// The width of the terminal on stderr, asked anew each time (so that a resize, which
// SIGWINCH announces, is followed); 80 when it cannot be told.
std::size_t terminal_columns();

// Rewrites one line of `out` in place, clipped to the terminal's width so that it never
// wraps, at most every 100 ms; does nothing when `out` is null.
class StatusLine {
public:
    using Clock = std::chrono::steady_clock;
    StatusLine(std::ostream* out, std::string label,
               std::function<std::size_t()> columns = terminal_columns,
               std::function<Clock::time_point()> now = Clock::now);
    StatusLine(const StatusLine&) = delete;
    StatusLine& operator=(const StatusLine&) = delete;
    // Clears the line, so that what follows starts on a clean one.
    ~StatusLine();

    void show(const Progress& progress);

private:
    std::ostream* m_out;
    std::string m_label;
    std::function<std::size_t()> m_columns;
    std::function<Clock::time_point()> m_now;
    Clock::time_point m_started;
    std::optional<Clock::time_point> m_drawn;  // when the line was last drawn
};

}  // namespace spawn_agents
