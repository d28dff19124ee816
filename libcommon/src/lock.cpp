#include "common/lock.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace common {
namespace {

int open_lock_file(const std::filesystem::path& file)
{
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        throw Error(Exit::cant_create, "cannot open lock file {}: {}", file.string(),
                    std::strerror(errno));
    return fd;
}

int flock_retrying(int fd, int operation)
{
    int rc = 0;
    do {
        rc = ::flock(fd, operation);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

// Takes LOCK_EX on `fd` without waiting for an exclusive holder; shared holders (probes,
// which hold for an instant) are waited out for up to a second. 0, or the errno of flock.
int lock_exclusively(int fd)
{
    constexpr int attempts = 1000;
    for (int attempt = 0; attempt < attempts; ++attempt) {
        if (flock_retrying(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK) return errno;
        if (flock_retrying(fd, LOCK_SH | LOCK_NB) != 0) return errno;
        flock_retrying(fd, LOCK_UN);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return EWOULDBLOCK;
}

}  // namespace

std::optional<FileLock> FileLock::try_acquire_at(int folder, const std::string& name) noexcept
{
    const int fd = ::openat(folder, name.c_str(),
                            O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) return std::nullopt;
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode) || lock_exclusively(fd) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    return FileLock(fd);
}

std::optional<FileLock> FileLock::try_acquire(const std::filesystem::path& file)
{
    const int fd = open_lock_file(file);
    const int error = lock_exclusively(fd);
    if (error == 0) return FileLock(fd);
    ::close(fd);
    if (error != EWOULDBLOCK)
        throw Error(Exit::io, "cannot lock {}: {}", file.string(), std::strerror(error));
    return std::nullopt;
}

FileLock FileLock::acquire(const std::filesystem::path& file)
{
    const int fd = open_lock_file(file);
    if (flock_retrying(fd, LOCK_EX) != 0) {
        const int error = errno;
        ::close(fd);
        throw Error(Exit::io, "cannot lock {}: {}", file.string(), std::strerror(error));
    }
    return FileLock(fd);
}

LockState FileLock::probe(const std::filesystem::path& file) noexcept
{
    // O_NONBLOCK: a FIFO planted as a lock file must not hang the probe.
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return errno == ENOENT ? LockState::free : LockState::unknown;
    LockState state = LockState::unknown;
    if (flock_retrying(fd, LOCK_SH | LOCK_NB) == 0) {
        state = LockState::free;
        flock_retrying(fd, LOCK_UN);
    } else if (errno == EWOULDBLOCK) {
        state = LockState::held;
    }
    ::close(fd);
    return state;
}

FileLock::FileLock(FileLock&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

FileLock::~FileLock()
{
    if (m_fd >= 0) ::close(m_fd);
}

}  // namespace common
