#include "stager.hpp"

#include "common/error.hpp"

#include <utility>

namespace spawn_agents {

Stager::Stager(EvidenceStore& store, std::vector<std::string> agents, std::size_t ahead)
    : m_store(store), m_agents(std::move(agents)), m_ahead(ahead), m_thread([this] { loop(); })
{
}

Stager::~Stager()
{
    {
        const std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_changed.notify_all();
    m_thread.join();
}

void Stager::loop()
{
    // Once full, it waits until half the files are taken, then stages the other half in one
    // go: a wake-up of this thread costs more than staging a file.
    bool refilling = true;
    for (;;) {
        std::size_t index = 0;
        {
            std::unique_lock lock(m_mutex);
            if (m_ready.size() >= m_ahead) refilling = false;
            m_changed.wait(lock, [&] {
                return m_stopping || (refilling && m_ready.size() < m_ahead) ||
                       m_ready.size() <= m_ahead / 2;
            });
            refilling = true;
            if (m_stopping || m_staged == m_agents.size()) return;
            index = m_staged;
        }
        Slot slot;
        try {
            slot.staged = m_store.stage_agent(m_agents[index]);
        } catch (...) {
            slot.error = std::current_exception();
        }
        {
            const std::lock_guard lock(m_mutex);
            m_ready.push_back(std::move(slot));
            ++m_staged;
        }
        m_changed.notify_all();
    }
}

StagedOutput Stager::take()
{
    Slot slot;
    bool wake = false;
    {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [&] { return !m_ready.empty() || m_staged == m_agents.size(); });
        if (m_ready.empty()) throw common::Error(common::Exit::software, "no agent left to stage");
        slot = std::move(m_ready.front());
        m_ready.pop_front();
        wake = m_ready.size() == m_ahead / 2;
    }
    if (wake) m_changed.notify_all();
    if (slot.error) std::rethrow_exception(slot.error);
    return std::move(slot.staged);
}

}  // namespace spawn_agents
