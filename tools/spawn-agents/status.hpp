#pragma once
// The live status line spawn-agents keeps on a terminal's stderr.

#include <cstddef>
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

// "SPEC-KIT-933 validate: 4 agents, 4 started, 2 running, 1 finished, 1 failed"
std::string progress_text(const std::string& label, const Progress& progress);

// Rewrites one line of `out` in place; does nothing when `out` is null.
class StatusLine {
public:
    StatusLine(std::ostream* out, std::string label) : m_out(out), m_label(std::move(label)) {}
    StatusLine(const StatusLine&) = delete;
    StatusLine& operator=(const StatusLine&) = delete;
    // Ends the line, so that what follows starts on a fresh one.
    ~StatusLine();

    void show(const Progress& progress);

private:
    std::ostream* m_out;
    std::string m_label;
    bool m_shown = false;
};

}  // namespace spawn_agents
