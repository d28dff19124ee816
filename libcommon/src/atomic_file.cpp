#include "common/atomic_file.hpp"

#include "common/error.hpp"
#include "common/files.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace common {

AtomicFile::AtomicFile(std::filesystem::path target, mode_t mode) : m_target(std::move(target))
{
    auto pattern = m_target.string() + ".XXXXXX";
    m_fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (m_fd < 0)
        throw Error(Exit::cant_create, "cannot create a temporary file beside {}: {}",
                    m_target.string(), std::strerror(errno));
    m_temporary = pattern;
    if (::fchmod(m_fd, mode) != 0) {
        const int error = errno;
        ::close(m_fd);
        ::unlink(m_temporary.c_str());
        throw Error(Exit::cant_create, "cannot set the mode of {}: {}", m_temporary.string(),
                    std::strerror(error));
    }
}

AtomicFile::~AtomicFile()
{
    if (m_fd >= 0) ::close(m_fd);
    if (!m_committed) ::unlink(m_temporary.c_str());
}

void AtomicFile::write(std::string_view data)
{
    while (!data.empty()) {
        const auto written = ::write(m_fd, data.data(), data.size());
        if (written < 0 && errno == EINTR) continue;
        if (written < 0)
            throw Error(Exit::io, "cannot write {}: {}", m_temporary.string(),
                        std::strerror(errno));
        data.remove_prefix(static_cast<std::size_t>(written));
    }
}

void AtomicFile::commit()
{
    if (::fsync(m_fd) != 0)
        throw Error(Exit::io, "cannot flush {}: {}", m_temporary.string(), std::strerror(errno));
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0)
        throw Error(Exit::io, "cannot close {}: {}", m_temporary.string(), std::strerror(errno));
    if (::rename(m_temporary.c_str(), m_target.c_str()) != 0)
        throw Error(Exit::cant_create, "cannot rename {} to {}: {}", m_temporary.string(),
                    m_target.string(), std::strerror(errno));
    m_committed = true;
    const auto folder = m_target.has_parent_path() ? m_target.parent_path() : ".";
    sync_path(folder);
}

void write_file_atomically(const std::filesystem::path& target, std::string_view content,
                           mode_t mode)
{
    AtomicFile file(target, mode);
    file.write(content);
    file.commit();
}

}  // namespace common
