#include "common/stop_signal.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace common {

StopSignal::StopSignal()
{
    m_wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m_wake < 0)
        throw Error(Exit::software, "cannot watch SIGINT and SIGTERM: {}", std::strerror(errno));
    try {
        m_thread = std::thread([this] { watch(); });
    } catch (const std::system_error& error) {
        ::close(m_wake);
        throw Error(Exit::software, "cannot watch SIGINT and SIGTERM: {}", error.what());
    }
}

StopSignal::~StopSignal()
{
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(m_wake, &one, sizeof one);
    m_thread.join();
    ::close(m_wake);
}

std::optional<int> StopSignal::signal() const
{
    const int signal = m_signal.load();
    return signal != 0 ? std::optional<int>(signal) : std::nullopt;
}

void StopSignal::watch()
{
    for (;;) {
        pollfd fds[2] = {{.fd = m_watch.fd(), .events = POLLIN, .revents = 0},
                         {.fd = m_wake, .events = POLLIN, .revents = 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[0].revents != 0) {
            while (const auto signal = m_watch.take()) {
                int none = 0;
                m_signal.compare_exchange_strong(none, *signal);
                m_stop = true;
            }
        }
        if (fds[1].revents != 0) return;
    }
}

}  // namespace common
