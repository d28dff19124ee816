#include "common/tree.hpp"

#include "common/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace common {
namespace {

EntryInfo info_of(const struct stat& status)
{
    EntryInfo info;
    if (S_ISREG(status.st_mode))
        info.type = EntryType::file;
    else if (S_ISDIR(status.st_mode))
        info.type = EntryType::directory;
    else if (S_ISLNK(status.st_mode))
        info.type = EntryType::symlink;
    info.size = static_cast<std::uint64_t>(status.st_size);
    info.mtime_ns = to_ns(status.st_mtim.tv_sec, status.st_mtim.tv_nsec);
    info.ctime_ns = to_ns(status.st_ctim.tv_sec, status.st_ctim.tv_nsec);
    info.inode = status.st_ino;
    info.device = status.st_dev;
    info.mode = status.st_mode & 07777;
    return info;
}

// Opens `name` in `parent` as a folder, never through a symlink.
int open_child_directory(int parent, const std::string& name)
{
    int fd = -1;
    do {
        fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

std::string describe(const std::filesystem::path& root, std::string_view relative)
{
    return relative.empty() ? root.string() : (root / std::string(relative)).string();
}

void check_relative(const std::filesystem::path& root, std::string_view relative)
{
    if (!is_safe_relative(relative))
        throw Error(Exit::data, "{}: refusing path '{}' (not a plain path below the root)",
                    root.string(), relative);
}

// Closes a DIR* on scope exit.
struct DirCloser {
    DIR* dir;
    ~DirCloser()
    {
        if (dir) ::closedir(dir);
    }
};

}  // namespace

UniqueFd::UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept
{
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
}

UniqueFd::~UniqueFd()
{
    if (m_fd >= 0) ::close(m_fd);
}

Error system_error(int error, std::string_view what)
{
    Exit code = Exit::io;
    switch (error) {
    case EACCES:
    case EPERM:
    case EROFS: code = Exit::no_perm; break;
    case ENOENT: code = Exit::no_input; break;
    case EEXIST: code = Exit::cant_create; break;
    default: break;
    }
    return Error(code, "{}: {}", what, std::strerror(error));
}

std::int64_t to_ns(std::int64_t seconds, std::int64_t nanoseconds) noexcept
{
    return seconds * 1'000'000'000 + nanoseconds;
}

std::pair<std::string_view, std::string_view> split_parent(std::string_view relative)
{
    const auto slash = relative.rfind('/');
    if (slash == std::string_view::npos) return {std::string_view(), relative};
    return {relative.substr(0, slash), relative.substr(slash + 1)};
}

bool is_safe_relative(std::string_view relative) noexcept
{
    if (relative.empty() || relative.front() == '/') return false;
    std::size_t start = 0;
    while (start <= relative.size()) {
        auto end = relative.find('/', start);
        if (end == std::string_view::npos) end = relative.size();
        const auto part = relative.substr(start, end - start);
        if (part.empty() || part == "." || part == "..") return false;
        if (part.find('\0') != std::string_view::npos) return false;
        start = end + 1;
    }
    return true;
}

TreeRoot TreeRoot::open(const std::filesystem::path& root)
{
    // "link/" makes the kernel follow a symlink that O_NOFOLLOW refuses as "link".
    std::string name = root.string();
    while (name.size() > 1 && name.back() == '/')
        name.pop_back();
    const int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        if (error == ELOOP || error == ENOTDIR)
            throw Error(Exit::no_input, "{}: not a folder (a symlinked root is not followed)",
                        root.string());
        throw system_error(error, root.string());
    }
    return TreeRoot(UniqueFd(fd), root);
}

std::optional<EntryInfo> TreeRoot::stat(std::string_view relative) const
{
    check_relative(m_path, relative);
    const auto [parent, name] = split_parent(relative);
    UniqueFd directory;
    try {
        directory = open_directory(parent);
    } catch (const Error&) {
        return std::nullopt;
    }
    struct stat status {};
    if (::fstatat(directory.get(), std::string(name).c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0)
        return std::nullopt;
    return info_of(status);
}

UniqueFd TreeRoot::open_directory(std::string_view relative, bool create, mode_t mode) const
{
    // A fresh open file description: a dup() would share the folder's read position.
    UniqueFd current(::openat(m_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!current) throw system_error(errno, describe(m_path, ""));
    if (relative.empty()) return current;
    check_relative(m_path, relative);
    std::size_t start = 0;
    while (start < relative.size()) {
        auto end = relative.find('/', start);
        if (end == std::string_view::npos) end = relative.size();
        const std::string part(relative.substr(start, end - start));
        int fd = open_child_directory(current.get(), part);
        if (fd < 0 && errno == ENOENT && create) {
            if (::mkdirat(current.get(), part.c_str(), mode) != 0 && errno != EEXIST)
                throw system_error(errno,
                                   "cannot create " + describe(m_path, relative.substr(0, end)));
            fd = open_child_directory(current.get(), part);
        }
        if (fd < 0)
            throw system_error(errno == ELOOP ? ENOTDIR : errno,
                               describe(m_path, relative.substr(0, end)));
        current = UniqueFd(fd);
        start = end + 1;
    }
    return current;
}

UniqueFd TreeRoot::open_file(std::string_view relative) const
{
    check_relative(m_path, relative);
    const auto [parent, name] = split_parent(relative);
    const auto directory = open_directory(parent);
    // O_NONBLOCK: a FIFO put where a file was must not hang the caller; it is refused below.
    const int fd = ::openat(directory.get(), std::string(name).c_str(),
                            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw system_error(errno, describe(m_path, relative));
    UniqueFd file(fd);
    struct stat status {};
    if (::fstat(fd, &status) != 0) throw system_error(errno, describe(m_path, relative));
    if (!S_ISREG(status.st_mode))
        throw Error(Exit::data, "{}: not a regular file", describe(m_path, relative));
    return file;
}

namespace {

void walk_directory(int fd, std::string& prefix, const std::function<bool(const TreeEntry&)>& visit,
                    const std::filesystem::path& root)
{
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
        const int error = errno;
        ::close(fd);
        throw system_error(error, describe(root, prefix));
    }
    DirCloser closer{dir};
    TreeEntry entry;
    const auto prefix_size = prefix.size();
    for (;;) {
        errno = 0;
        const dirent* item = ::readdir(dir);
        if (item == nullptr) {
            if (errno != 0) throw system_error(errno, describe(root, prefix));
            break;
        }
        const std::string_view name(item->d_name);
        if (name == "." || name == "..") continue;
        struct stat status {};
        if (::fstatat(::dirfd(dir), item->d_name, &status, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;
            throw system_error(errno, describe(root, prefix + std::string(name)));
        }
        prefix.resize(prefix_size);
        prefix.append(name);
        entry.path = prefix;
        entry.info = info_of(status);
        const bool descend = visit(entry);
        if (descend && entry.info.type == EntryType::directory) {
            const int child = open_child_directory(::dirfd(dir), item->d_name);
            if (child < 0) {
                if (errno != ENOENT) throw system_error(errno, describe(root, prefix));
            } else {
                prefix.push_back('/');
                walk_directory(child, prefix, visit, root);
            }
        }
        prefix.resize(prefix_size);
    }
}

}  // namespace

void TreeRoot::walk(std::string_view relative,
                    const std::function<bool(const TreeEntry&)>& visit) const
{
    auto directory = open_directory(relative);
    std::string prefix(relative);
    if (!prefix.empty()) prefix.push_back('/');
    walk_directory(directory.release(), prefix, visit, m_path);
}

void TreeRoot::remove_file(std::string_view relative) const
{
    check_relative(m_path, relative);
    const auto [parent, name] = split_parent(relative);
    const auto directory = open_directory(parent);
    if (::unlinkat(directory.get(), std::string(name).c_str(), 0) != 0)
        throw system_error(errno, "cannot remove " + describe(m_path, relative));
}

bool TreeRoot::remove_directory_if_empty(std::string_view relative) const noexcept
{
    try {
        check_relative(m_path, relative);
        const auto [parent, name] = split_parent(relative);
        const auto directory = open_directory(parent);
        return ::unlinkat(directory.get(), std::string(name).c_str(), AT_REMOVEDIR) == 0;
    } catch (...) {
        return false;
    }
}

bool TreeRoot::try_lock(bool exclusive) const
{
    int rc = 0;
    do {
        rc = ::flock(m_fd.get(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    throw system_error(errno, "cannot lock " + m_path.string());
}

int FolderCache::folder_of(std::string_view relative)
{
    check_relative(m_root.path(), relative);
    const auto folder = split_parent(relative).first;
    if (!m_fd || folder != m_folder) {
        m_fd = UniqueFd();
        m_fd = m_root.open_directory(folder);
        m_folder = std::string(folder);
    }
    return m_fd.get();
}

std::optional<EntryInfo> FolderCache::stat(std::string_view relative)
{
    int folder = -1;
    try {
        folder = folder_of(relative);
    } catch (const Error& error) {
        if (error.code() == Exit::data) throw;
        return std::nullopt;
    }
    struct stat status {};
    const std::string name(split_parent(relative).second);
    if (::fstatat(folder, name.c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
    return info_of(status);
}

UniqueFd FolderCache::open_file(std::string_view relative)
{
    const int folder = folder_of(relative);
    const std::string name(split_parent(relative).second);
    // O_NONBLOCK: a FIFO put where a file was must not hang the caller; it is refused below.
    UniqueFd file(::openat(folder, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!file) throw system_error(errno, describe(m_root.path(), relative));
    struct stat status {};
    if (::fstat(file.get(), &status) != 0)
        throw system_error(errno, describe(m_root.path(), relative));
    if (!S_ISREG(status.st_mode))
        throw Error(Exit::data, "{}: not a regular file", describe(m_root.path(), relative));
    return file;
}

void FolderCache::remove_file(std::string_view relative)
{
    const int folder = folder_of(relative);
    const std::string name(split_parent(relative).second);
    if (::unlinkat(folder, name.c_str(), 0) != 0)
        throw system_error(errno, "cannot remove " + describe(m_root.path(), relative));
}

NewFileAt::NewFileAt(std::shared_ptr<const UniqueFd> folder, std::string name, mode_t mode,
                     std::filesystem::path shown)
    : m_folder(std::move(folder)), m_name(std::move(name)), m_shown(std::move(shown))
{
    auto [fd, temporary] =
        create_temporary_at(m_folder->get(), m_name, mode, (m_shown / m_name).string());
    m_fd = UniqueFd(fd);
    m_temporary = std::move(temporary);
}

NewFileAt::NewFileAt(NewFileAt&& other) noexcept
    : m_folder(std::move(other.m_folder)), m_name(std::move(other.m_name)),
      m_temporary(std::exchange(other.m_temporary, {})), m_shown(std::move(other.m_shown)),
      m_fd(std::move(other.m_fd)), m_committed(other.m_committed)
{
}

NewFileAt& NewFileAt::operator=(NewFileAt&& other) noexcept
{
    if (this != &other) {
        discard();
        m_folder = std::move(other.m_folder);
        m_name = std::move(other.m_name);
        m_temporary = std::exchange(other.m_temporary, {});
        m_shown = std::move(other.m_shown);
        m_fd = std::move(other.m_fd);
        m_committed = other.m_committed;
    }
    return *this;
}

NewFileAt::~NewFileAt()
{
    discard();
}

void NewFileAt::discard() noexcept
{
    m_fd = UniqueFd();
    if (!m_committed && !m_temporary.empty() && m_folder)
        ::unlinkat(m_folder->get(), m_temporary.c_str(), 0);
    m_temporary.clear();
}

NewFileAt NewFileAt::beside(std::string name, mode_t mode) const
{
    return {m_folder, std::move(name), mode, m_shown};
}

void NewFileAt::write(std::string_view bytes)
{
    while (!bytes.empty()) {
        const auto written = ::write(m_fd.get(), bytes.data(), bytes.size());
        if (written < 0 && errno == EINTR) continue;
        if (written < 0)
            throw Error(Exit::io, "cannot write {}: {}", shown().string(), std::strerror(errno));
        bytes.remove_prefix(static_cast<std::size_t>(written));
    }
}

void NewFileAt::close_unflushed()
{
    if (!m_fd) return;
    if (::close(m_fd.release()) != 0 && errno != EINTR)
        throw Error(Exit::io, "cannot write {}: {}", shown().string(), std::strerror(errno));
}

UniqueFd NewFileAt::open_for_reading() const
{
    UniqueFd fd(::openat(m_folder->get(), m_temporary.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw system_error(errno, "cannot read " + shown().string());
    return fd;
}

void NewFileAt::flush()
{
    auto fd = m_fd ? std::move(m_fd) : open_for_reading();
    if (::fsync(fd.get()) != 0)
        throw Error(Exit::io, "cannot flush {} to disk: {}", shown().string(),
                    std::strerror(errno));
    if (::close(fd.release()) != 0 && errno != EINTR)
        throw Error(Exit::io, "cannot write {}: {}", shown().string(), std::strerror(errno));
}

bool NewFileAt::commit()
{
    m_fd = UniqueFd();
    const int error =
        rename_without_replacing_at(m_folder->get(), m_temporary, m_folder->get(), m_name);
    if (error == EEXIST) return false;
    if (error != 0)
        throw Error(Exit::io, "cannot put {} in place: {}", shown().string(), std::strerror(error));
    m_committed = true;
    return true;
}

}  // namespace common
