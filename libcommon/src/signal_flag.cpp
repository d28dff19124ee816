#include "common/signal_flag.hpp"

#include "common/error.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace common {

SignalFlag::SignalFlag() : m_wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (m_wake < 0)
        throw Error(Exit::software, "cannot watch SIGINT and SIGTERM: {}", std::strerror(errno));
    m_thread = std::thread([this] {
        std::array<pollfd, 2> watched{{{m_watch.fd(), POLLIN, 0}, {m_wake, POLLIN, 0}}};
        for (;;) {
            if (::poll(watched.data(), watched.size(), -1) < 0 && errno != EINTR) return;
            if (watched[1].revents != 0) return;
            if (watched[0].revents == 0) continue;
            const std::lock_guard lock(m_mutex);
            take();
            // After the first signal there is nothing more to learn: the flag stays raised.
            if (m_signal) return;
        }
    });
}

SignalFlag::~SignalFlag()
{
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(m_wake, &one, sizeof one);
    m_thread.join();
    ::close(m_wake);
}

void SignalFlag::take()
{
    if (m_signal) return;
    m_signal = m_watch.take();
    if (m_signal) m_raised = true;
}

std::optional<int> SignalFlag::signal()
{
    const std::lock_guard lock(m_mutex);
    take();
    return m_signal;
}

}  // namespace common
