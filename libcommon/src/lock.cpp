#include "common/lock.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
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

}  // namespace

std::optional<FileLock> FileLock::try_acquire(const std::filesystem::path& file)
{
    const int fd = open_lock_file(file);
    if (flock_retrying(fd, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        ::close(fd);
        if (error == EWOULDBLOCK) return std::nullopt;
        throw Error(Exit::io, "cannot lock {}: {}", file.string(), std::strerror(error));
    }
    return FileLock(fd);
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

bool FileLock::is_held(const std::filesystem::path& file)
{
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    // A shared lock is refused only while someone holds the exclusive one.
    const bool held = flock_retrying(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);
    return held;
}

FileLock::FileLock(FileLock&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

FileLock::~FileLock()
{
    if (m_fd >= 0) ::close(m_fd);
}

}  // namespace common
