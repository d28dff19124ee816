#pragma once
// SIGINT and SIGTERM as a flag that a thread raises the moment one arrives, for waits that
// cannot watch a descriptor: SQLite's busy handler (Database::stop_waiting_when) looks at it.

#include "common/process.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

namespace common {

class SignalFlag {
public:
    // Blocks SIGINT and SIGTERM (as SignalWatch: create it before starting other threads) and
    // starts the thread that raises the flag. Throws Error 70 when it cannot.
    SignalFlag();
    SignalFlag(const SignalFlag&) = delete;
    SignalFlag& operator=(const SignalFlag&) = delete;
    // Stops the thread; a signal not yet read stays pending, as with SignalWatch.
    ~SignalFlag();

    // Set once a signal has arrived; never cleared.
    const std::atomic<bool>& raised() const { return m_raised; }
    // The first signal received, if any. Reads a pending one itself, so that a signal sent
    // before the call is seen by it whether or not the thread has woken yet; never blocks.
    std::optional<int> signal();

private:
    void take();  // with m_mutex held

    SignalWatch m_watch;
    std::mutex m_mutex;
    std::atomic<bool> m_raised{false};
    std::optional<int> m_signal;
    int m_wake = -1;  // an eventfd that ends the thread
    std::thread m_thread;
};

}  // namespace common
