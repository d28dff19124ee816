#pragma once
// A folder tree read and changed only through file descriptors of its own folders (openat,
// fstatat with AT_SYMLINK_NOFOLLOW, unlinkat): no symlink is ever followed and nothing
// outside the root is reached, whatever the names it is given.

#include "common/error.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>

namespace common {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    UniqueFd(UniqueFd&& other) noexcept;
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd();

    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }
    // Gives up ownership.
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd = -1;
};

// The project error for a failed system call: EACCES, EPERM and EROFS are 77, ENOENT 66,
// EEXIST 73, anything else 74. `what` names the file and the operation.
Error system_error(int error, std::string_view what);

enum class EntryType { file, directory, symlink, other };

// What lstat says about an entry.
struct EntryInfo {
    EntryType type = EntryType::other;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;  // since the epoch
    // The last change of the inode, which no tool sets back: when a file was made, at the latest.
    std::int64_t ctime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
    std::uint32_t mode = 0;  // permission bits
};

// One entry of a walk: its path relative to the root ('/'-separated, raw bytes).
struct TreeEntry {
    std::string path;
    EntryInfo info;
};

// Splits "a/b/c" into its parent "a/b" and name "c" ("" and "c" for a top-level name).
std::pair<std::string_view, std::string_view> split_parent(std::string_view relative);

// True when `relative` is a path below the root: not empty, not absolute, no empty, "." or
// ".." component.
bool is_safe_relative(std::string_view relative) noexcept;

// An open root folder. Every relative path given to it is checked with is_safe_relative()
// (Error 65 otherwise) and resolved one component at a time with O_NOFOLLOW.
class TreeRoot {
public:
    // Opens `root`, which must be a folder (a symlink to one is refused). Throws Error 66 when
    // it is missing, 77 without permission, 74 otherwise.
    static TreeRoot open(const std::filesystem::path& root);

    const std::filesystem::path& path() const { return m_path; }
    int fd() const { return m_fd.get(); }

    // lstat of `relative`; nullopt when it does not exist (or a parent is not a folder).
    std::optional<EntryInfo> stat(std::string_view relative) const;

    // Opens the folder `relative` ("" is the root), creating missing ones (`mode`) when
    // `create`. Throws as system_error().
    UniqueFd open_directory(std::string_view relative, bool create = false,
                            mode_t mode = 0755) const;

    // Opens the regular file `relative` for reading. Throws as system_error().
    UniqueFd open_file(std::string_view relative) const;

    // Calls `visit` for every entry below the folder `relative`, depth first, in the order
    // the file system lists them; a folder is entered when `visit` returns true. Holds one
    // open folder per level and never the whole listing: memory does not grow with the number
    // of entries. An entry that disappears during the walk is passed over.
    void walk(std::string_view relative, const std::function<bool(const TreeEntry&)>& visit) const;

    // Removes the file (or symlink) `relative`. Throws as system_error().
    void remove_file(std::string_view relative) const;
    // Removes the folder `relative` when it is empty; false when it is not (or is gone).
    bool remove_directory_if_empty(std::string_view relative) const noexcept;

    // flock on the root folder itself, without waiting: false when another process holds a
    // conflicting lock. Held until this object is destroyed. Leaves no file behind.
    bool try_lock(bool exclusive) const;

private:
    TreeRoot(UniqueFd fd, std::filesystem::path path) : m_fd(std::move(fd)), m_path(std::move(path))
    {
    }
    UniqueFd m_fd;
    std::filesystem::path m_path;
};

// Files of a TreeRoot reached through the folder that holds them, which stays open from one
// call to the next: going over sorted paths opens each folder once instead of once per file.
class FolderCache {
public:
    explicit FolderCache(const TreeRoot& root) : m_root(root) {}

    // As TreeRoot's functions of the same names.
    std::optional<EntryInfo> stat(std::string_view relative);
    UniqueFd open_file(std::string_view relative);
    void remove_file(std::string_view relative);

private:
    // The open folder holding `relative`; throws as TreeRoot::open_directory().
    int folder_of(std::string_view relative);
    const TreeRoot& m_root;
    std::string m_folder;
    UniqueFd m_fd;
};

// A new file in a folder open on `folder`, written under a temporary name (as
// create_temporary_at(), exactly `mode`) and put in place by commit() without ever replacing
// a name: nothing is reached through a symlink, wherever the folder has been moved since it
// was opened. The folder's descriptor is shared, so that many files wait for their turn
// without one each. The temporary is removed by the destructor unless committed.
class NewFileAt {
public:
    // `shown` is the folder's path, for messages. Throws as system_error().
    NewFileAt(std::shared_ptr<const UniqueFd> folder, std::string name, mode_t mode,
              std::filesystem::path shown);
    NewFileAt(NewFileAt&& other) noexcept;
    NewFileAt& operator=(NewFileAt&& other) noexcept;
    NewFileAt(const NewFileAt&) = delete;
    NewFileAt& operator=(const NewFileAt&) = delete;
    ~NewFileAt();

    // The temporary's descriptor; -1 after close_unflushed() or flush().
    int fd() const { return m_fd.get(); }
    // The name commit() gives it, and that name in its folder's path.
    const std::string& name() const { return m_name; }
    std::filesystem::path shown() const { return m_shown / m_name; }
    // The folder it is made in, for the caller's flush.
    int folder() const { return m_folder->get(); }
    // Names it otherwise, before commit().
    void rename_to(std::string name) { m_name = std::move(name); }
    // Another new file, to be named `name`, in the same folder. Throws as the constructor.
    NewFileAt beside(std::string name, mode_t mode) const;

    // Appends `bytes`. Throws Error 74.
    void write(std::string_view bytes);
    // Closes the temporary without flushing it. Throws Error 74 when the close reports a
    // failed write.
    void close_unflushed();
    // A new descriptor on the temporary, for reading. Throws as system_error().
    UniqueFd open_for_reading() const;
    // Flushes the temporary to the disk and closes it. Throws Error 74.
    void flush();
    // Puts the temporary in place under name(): false, the temporary kept, when that name
    // exists. The caller flushes the folder. Throws Error 74 otherwise.
    bool commit();

private:
    void discard() noexcept;

    std::shared_ptr<const UniqueFd> m_folder;
    std::string m_name;
    std::string m_temporary;
    std::filesystem::path m_shown;
    UniqueFd m_fd;
    bool m_committed = false;
};

// Converts a stat mtime to nanoseconds since the epoch and back.
std::int64_t to_ns(std::int64_t seconds, std::int64_t nanoseconds) noexcept;

}  // namespace common
