// SIGINT and SIGTERM: read from a descriptor (SignalWatch) or raised as a flag (StopSignal).
#include "common/stop_signal.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace common {

struct SignalWatch::Mask {
    sigset_t set;
};

SignalWatch::SignalWatch() : m_previous(std::make_unique<Mask>())
{
    sigset_t watched;
    sigemptyset(&watched);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGTERM);
    if (const int rc = ::pthread_sigmask(SIG_BLOCK, &watched, &m_previous->set); rc != 0)
        throw Error(Exit::software, "cannot block SIGINT and SIGTERM: {}", std::strerror(rc));
    m_fd = ::signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m_fd < 0) {
        const int error = errno;
        ::pthread_sigmask(SIG_SETMASK, &m_previous->set, nullptr);
        throw Error(Exit::software, "cannot watch SIGINT and SIGTERM: {}", std::strerror(error));
    }
}

SignalWatch::~SignalWatch()
{
    if (m_fd >= 0) ::close(m_fd);
    ::pthread_sigmask(SIG_SETMASK, &m_previous->set, nullptr);
}

std::optional<int> SignalWatch::take()
{
    signalfd_siginfo info{};
    const auto n = ::read(m_fd, &info, sizeof info);
    if (n != static_cast<ssize_t>(sizeof info)) return std::nullopt;
    return static_cast<int>(info.ssi_signo);
}

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

std::optional<int> StopSignal::signal()
{
    // A signal sent just before this call may not have woken the thread yet: read it here.
    // The lock makes sure that one the thread has taken is recorded before it is looked at.
    {
        const std::lock_guard lock(m_taking);
        if (m_signal.load() == 0) record(m_watch.take());
    }
    const int signal = m_signal.load();
    return signal != 0 ? std::optional<int>(signal) : std::nullopt;
}

void StopSignal::record(std::optional<int> signal)
{
    if (!signal) return;
    int none = 0;
    m_signal.compare_exchange_strong(none, *signal);
    m_stop = true;
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
            const std::lock_guard lock(m_taking);
            while (const auto signal = m_watch.take())
                record(signal);
        }
        if (fds[1].revents != 0) return;
    }
}

}  // namespace common
