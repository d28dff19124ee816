#pragma once
// SIGINT and SIGTERM turned into a flag, for a tool whose waits happen inside a library
// (SQLite's busy handler, a long statement) that can look at a flag but not at a descriptor.

#include "common/process.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

namespace common {

// Blocks SIGINT and SIGTERM (a SignalWatch) and sets flag() from a thread of its own as soon
// as one arrives. Create it before starting other threads, so that they block the signals too.
// Throws Error 70 when the signals cannot be watched or the thread cannot start.
class StopSignal {
public:
    StopSignal();
    StopSignal(const StopSignal&) = delete;
    StopSignal& operator=(const StopSignal&) = delete;
    ~StopSignal();

    const std::atomic<bool>& flag() const { return m_stop; }
    // The first signal received (SIGINT or SIGTERM), when one was, including one sent before
    // the call that the thread has not read yet; never blocks.
    std::optional<int> signal();

private:
    void watch();
    void record(std::optional<int> signal);

    SignalWatch m_watch;
    std::mutex m_taking;  // held while a signal is read and recorded
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_signal{0};
    int m_wake = -1;  // an eventfd the destructor writes to end the thread
    std::thread m_thread;
};

}  // namespace common
