#pragma once
// Agents' files staged on a thread of its own, a few agents ahead of their starts: creating
// two files costs tens of microseconds on a disk, which would otherwise lie between one
// spawn and the next.

#include "evidence.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spawn_agents {

class Stager {
public:
    // Starts staging `agents` (their names, in the order they start) in `store`, whose
    // folders prepare() has made, at most `ahead` agents before the last one taken. Create
    // after any SignalWatch, so that the thread blocks its signals too.
    Stager(EvidenceStore& store, std::vector<std::string> agents, std::size_t ahead = 16);
    Stager(const Stager&) = delete;
    Stager& operator=(const Stager&) = delete;
    // Stops the thread; files staged and not taken are removed.
    ~Stager();

    // The files of the next agent in order, once staged; throws what staging them threw
    // (Error 73).
    StagedOutput take();

private:
    struct Slot {
        StagedOutput staged;
        std::exception_ptr error;
    };
    void loop();

    EvidenceStore& m_store;
    const std::vector<std::string> m_agents;
    const std::size_t m_ahead;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Slot> m_ready;  // staged, in order, not taken yet
    std::size_t m_staged = 0;  // agents staged so far
    bool m_stopping = false;
    std::thread m_thread;
};

}  // namespace spawn_agents
