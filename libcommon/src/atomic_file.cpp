#include "common/atomic_file.hpp"

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/tree.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace common {
namespace {

std::filesystem::path folder_of(const std::filesystem::path& file)
{
    return file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
}

int place_without_replacing(const std::filesystem::path& from, const std::filesystem::path& to)
{
    return rename_without_replacing_at(AT_FDCWD, from.string(), AT_FDCWD, to.string());
}

// The part of `name` a temporary carries: ".NAME.XXXXXX.tmp" adds 12 bytes, so a name near
// the file system's limit is cut short to keep its temporary a valid name.
std::string temporary_stem(std::string_view name)
{
    constexpr std::size_t name_max = 255;
    constexpr std::size_t added = std::string_view("..XXXXXX.tmp").size();
    return std::string(name.substr(0, name_max - added));
}

// A device, FIFO or socket at `target` (or where a symlink there leads) is never replaced:
// `--output /dev/null` run as root once put a regular file in its place.
void refuse_special_file(const std::filesystem::path& target)
{
    struct stat info {};
    if (::stat(target.c_str(), &info) != 0 || S_ISREG(info.st_mode) || S_ISDIR(info.st_mode))
        return;
    const auto* kind = S_ISCHR(info.st_mode)    ? "a character device"
                       : S_ISBLK(info.st_mode)  ? "a block device"
                       : S_ISFIFO(info.st_mode) ? "a FIFO"
                       : S_ISSOCK(info.st_mode) ? "a socket"
                                                : "not a regular file";
    throw Error(Exit::cant_create, "cannot replace {}: it is {}, not a regular file",
                target.string(), kind);
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target, mode_t mode, Existing existing)
    : m_target(std::move(target)), m_existing(existing)
{
    if (m_target.filename().empty())
        throw Error(Exit::cant_create, "cannot create {}: not a file name", m_target.string());
    refuse_special_file(m_target);
    std::string pattern =
        (folder_of(m_target) /
         fmt::format(".{}.XXXXXX.tmp", temporary_stem(m_target.filename().string())))
            .string();
    m_fd = ::mkostemps(pattern.data(), 4, O_CLOEXEC);
    if (m_fd < 0)
        throw Error(Exit::cant_create, "cannot create {}: {}", m_target.string(),
                    std::strerror(errno));
    m_temporary = pattern;
    if (::fchmod(m_fd, mode) != 0) {
        const int error = errno;
        ::close(std::exchange(m_fd, -1));
        ::unlink(m_temporary.c_str());
        throw Error(Exit::cant_create, "cannot create {}: {}", m_target.string(),
                    std::strerror(error));
    }
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_target(std::move(other.m_target)), m_temporary(std::move(other.m_temporary)),
      m_existing(other.m_existing), m_fd(std::exchange(other.m_fd, -1)), m_flushed(other.m_flushed),
      m_committed(std::exchange(other.m_committed, true))
{
}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept
{
    if (this == &other) return *this;
    discard();
    m_target = std::move(other.m_target);
    m_temporary = std::move(other.m_temporary);
    m_existing = other.m_existing;
    m_fd = std::exchange(other.m_fd, -1);
    m_flushed = other.m_flushed;
    m_committed = std::exchange(other.m_committed, true);
    return *this;
}

AtomicFile::~AtomicFile()
{
    discard();
}

void AtomicFile::discard() noexcept
{
    if (m_fd >= 0) ::close(std::exchange(m_fd, -1));
    if (!m_committed && !m_temporary.empty()) ::unlink(m_temporary.c_str());
}

void AtomicFile::retarget(std::filesystem::path target)
{
    if (m_committed) throw Error(Exit::software, "{}: renamed after commit", m_target.string());
    if (target.filename().empty() || folder_of(target) != folder_of(m_target))
        throw Error(Exit::software, "cannot name {} {}: not a file in the same folder",
                    m_target.string(), target.string());
    m_target = std::move(target);
}

void AtomicFile::write(std::string_view bytes)
{
    if (m_fd < 0) throw Error(Exit::software, "{}: write after close", m_target.string());
    while (!bytes.empty()) {
        const ssize_t written = ::write(m_fd, bytes.data(), bytes.size());
        if (written < 0) {
            if (errno == EINTR) continue;
            throw Error(Exit::io, "cannot write {}: {}", m_target.string(), std::strerror(errno));
        }
        bytes.remove_prefix(static_cast<std::size_t>(written));
    }
}

void AtomicFile::close_unflushed()
{
    if (m_fd < 0) return;
    // close() reports errors that delayed writes (NFS) only find now.
    if (::close(std::exchange(m_fd, -1)) != 0)
        throw Error(Exit::io, "cannot write {}: {}", m_target.string(), std::strerror(errno));
}

void AtomicFile::flush()
{
    if (m_flushed) return;
    if (m_committed) throw Error(Exit::software, "{}: flushed after commit", m_target.string());
    if (m_fd < 0) m_fd = ::open(m_temporary.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (m_fd < 0 || ::fsync(m_fd) != 0)
        throw Error(Exit::io, "cannot flush {} to disk: {}", m_target.string(),
                    std::strerror(errno));
    close_unflushed();
    m_flushed = true;
}

void AtomicFile::commit(FolderSync folder)
{
    if (m_committed) throw Error(Exit::software, "{}: committed twice", m_target.string());
    flush();
    refuse_special_file(m_target);

    const int error = m_existing == Existing::refuse
                          ? place_without_replacing(m_temporary, m_target)
                          : (::rename(m_temporary.c_str(), m_target.c_str()) == 0 ? 0 : errno);
    if (error == EEXIST)
        throw Error(Exit::cant_create, "{} already exists; not replacing it", m_target.string());
    if (error == EISDIR || error == ENOTEMPTY)
        throw Error(Exit::cant_create, "cannot create {}: it is a folder", m_target.string());
    if (error != 0)
        throw Error(Exit::io, "cannot put {} in place: {}", m_target.string(),
                    std::strerror(error));
    m_committed = true;
    // A renamed file whose folder was not flushed may come back under its old name after a
    // crash.
    if (folder == FolderSync::now) sync_path(folder_of(m_target));
}

bool is_temporary_name(std::string_view name) noexcept
{
    constexpr std::string_view suffix = ".tmp";
    constexpr std::size_t random = 6;
    if (name.size() < 1 + 1 + 1 + random + suffix.size() || name.front() != '.' ||
        !name.ends_with(suffix))
        return false;
    const auto stem = name.substr(0, name.size() - suffix.size());
    const auto dot = stem.size() - random - 1;
    if (stem[dot] != '.') return false;
    for (const char c : stem.substr(dot + 1))
        if (!std::isalnum(static_cast<unsigned char>(c))) return false;
    return true;
}

std::pair<int, std::string> create_temporary_at(int folder, std::string_view name, mode_t mode,
                                                std::string_view shown)
{
    constexpr std::string_view letters =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Seeded once per thread: a random_device costs more to open than a file to create.
    thread_local std::mt19937_64 generator{std::random_device{}()};
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::string random(6, 'x');
        for (auto& c : random)
            c = letters[generator() % letters.size()];
        auto temporary = fmt::format(".{}.{}.tmp", temporary_stem(name), random);
        const int fd = ::openat(folder, temporary.c_str(),
                                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0) {
            if (::fchmod(fd, mode) == 0) return {fd, std::move(temporary)};
            const int error = errno;
            ::close(fd);
            ::unlinkat(folder, temporary.c_str(), 0);
            throw system_error(error, fmt::format("cannot create {}", shown));
        }
        if (errno != EEXIST) throw system_error(errno, fmt::format("cannot create {}", shown));
    }
    throw system_error(EEXIST, fmt::format("cannot create {}", shown));
}

int rename_without_replacing_at(int from_folder, const std::string& from, int to_folder,
                                const std::string& to) noexcept
{
    if (::renameat2(from_folder, from.c_str(), to_folder, to.c_str(), RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return errno;
    if (::linkat(from_folder, from.c_str(), to_folder, to.c_str(), 0) != 0) return errno;
    ::unlinkat(from_folder, from.c_str(), 0);
    return 0;
}

void write_file_atomically(const std::filesystem::path& target, std::string_view content,
                           mode_t mode, Existing existing)
{
    AtomicFile file(target, mode, existing);
    file.write(content);
    file.commit();
}

}  // namespace common
