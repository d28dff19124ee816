#include "status.hpp"

#include <fmt/format.h>

namespace spawn_agents {

std::string progress_text(const std::string& label, const Progress& progress)
{
    return fmt::format("{}: {} agents, {} started, {} running, {} finished, {} failed", label,
                       progress.agents, progress.started, progress.running, progress.finished,
                       progress.failed);
}

StatusLine::~StatusLine()
{
    if (m_out && m_shown) *m_out << '\n' << std::flush;
}

void StatusLine::show(const Progress& progress)
{
    if (!m_out) return;
    // Carriage return and erase-line: the line is rewritten, not appended to.
    *m_out << "\r\x1b[K" << progress_text(m_label, progress) << std::flush;
    m_shown = true;
}

}  // namespace spawn_agents
