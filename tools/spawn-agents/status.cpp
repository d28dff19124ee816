#include "status.hpp"

#include <fmt/format.h>

#include <sys/ioctl.h>
#include <unistd.h>

namespace spawn_agents {
namespace {

// A terminal redrawn more often than this only flickers.
constexpr std::chrono::milliseconds redraw_interval{100};

}  // namespace

std::string progress_text(const std::string& label, const Progress& progress,
                          std::chrono::milliseconds elapsed)
{
    return fmt::format("{}: {} agents, {} started, {} running, {} finished, {} failed, {:.1f} s",
                       label, progress.agents, progress.started, progress.running,
                       progress.finished, progress.failed,
                       static_cast<double>(elapsed.count()) / 1000.0);
}

std::size_t terminal_columns()
{
    winsize size{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return 80;
}

StatusLine::StatusLine(std::ostream* out, std::string label, std::function<std::size_t()> columns,
                       std::function<Clock::time_point()> now)
    : m_out(out), m_label(std::move(label)), m_columns(std::move(columns)), m_now(std::move(now)),
      m_started(m_now())
{
}

StatusLine::~StatusLine()
{
    if (!m_out || !m_drawn) return;
    // Also on the way out of a batch that threw, maybe because this stream did.
    try {
        *m_out << "\r\x1b[K" << std::flush;
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor never throws
    }
}

void StatusLine::show(const Progress& progress)
{
    if (!m_out) return;
    const auto now = m_now();
    if (m_drawn && now - *m_drawn < redraw_interval) return;
    m_drawn = now;
    auto text = progress_text(
        m_label, progress, std::chrono::duration_cast<std::chrono::milliseconds>(now - m_started));
    // One column short of the width: a character in the last column wraps on some terminals.
    const auto width = m_columns();
    if (width > 1 && text.size() > width - 1) text.resize(width - 1);
    // Carriage return and erase-line: the line is rewritten, not appended to.
    *m_out << "\r\x1b[K" << text << std::flush;
}

}  // namespace spawn_agents
