#pragma once
// Files that appear complete or not at all: written under a temporary name in the target's
// folder, flushed, then renamed (or linked) into place.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

namespace common {

// What commit() does when the target already exists.
enum class Existing {
    replace,  // rename over it, atomically
    refuse,   // leave it and throw Error 73; the temporary is removed
};

// Who flushes the folder after commit() put a file in place.
enum class FolderSync {
    now,     // commit() does: the new name survives a crash once it returns
    caller,  // the caller does, once for several files (common::sync_path on the folder),
             // before it tells anyone the files exist
};

// A new file for `target`, written under a temporary name in the same folder
// (".NAME.XXXXXX.tmp"), so that the rename into place never crosses a file system. The
// temporary is removed by the destructor unless commit() succeeded, whatever went wrong; only
// a process killed outright leaves it behind. A writer that needs a path rather than a
// descriptor (SQLite's VACUUM INTO accepts an empty file) writes to temporary_path() and
// closes its own handle before commit().
class AtomicFile {
public:
    // Creates the temporary with exactly `mode` (the umask does not apply). Throws Error 73
    // when it cannot be created (missing or unwritable folder, read-only file system) or when
    // `target` is a device, FIFO or socket, or a symlink to one: those are never replaced.
    explicit AtomicFile(std::filesystem::path target, mode_t mode = 0600,
                        Existing existing = Existing::replace);
    AtomicFile(AtomicFile&& other) noexcept;
    // Removes this one's temporary (unless committed) and takes over `other`'s.
    AtomicFile& operator=(AtomicFile&& other) noexcept;
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    // Removes the temporary unless committed; never throws.
    ~AtomicFile();

    // The temporary's descriptor, for writers that need one (libarchive, ...); -1 after
    // close_unflushed(), flush() or commit(). The AtomicFile keeps owning it.
    int fd() const { return m_fd; }
    // The temporary's path, for writers that need a name (SQLite's VACUUM INTO).
    const std::filesystem::path& temporary_path() const { return m_temporary; }
    const std::filesystem::path& target() const { return m_target; }

    // Names another target in the same folder, before commit() or after a commit() that
    // found its target taken (Existing::refuse): a writer that learns the right name only
    // from what was written, or tries the next free one.
    void retarget(std::filesystem::path target);

    // Appends `bytes`. Throws Error 74 when the write fails (a full disk, an I/O error).
    void write(std::string_view bytes);

    // Closes the temporary without flushing it: many files can then wait for their flush
    // without holding a descriptor each. Throws Error 74 when the close reports a failed
    // write.
    void close_unflushed();

    // Flushes the temporary to the disk (through its name after close_unflushed()) and
    // closes it; commit() then only puts it in place. Lets the flushes of several files run
    // side by side. Throws Error 74 when it fails.
    void flush();

    // Flushes the file (unless flush() did), puts it in place (rename; with Existing::refuse,
    // a rename that never replaces, or a hard link where the file system lacks that) and, with
    // FolderSync::now, flushes the folder, so that the new name survives a crash. Throws Error
    // 73 when the target exists and may not be replaced, is a folder, or has become a
    // device, FIFO or socket, 74 on an I/O error;
    // the temporary is then removed.
    void commit(FolderSync folder = FolderSync::now);

private:
    // Closes the descriptor and removes the temporary unless committed; never throws.
    void discard() noexcept;

    std::filesystem::path m_target;
    std::filesystem::path m_temporary;
    Existing m_existing;
    int m_fd = -1;
    bool m_flushed = false;
    bool m_committed = false;
};

// True when `name` (a file name, no folder) follows the toolkit's one convention for
// temporary files, ".NAME.XXXXXX.tmp" with six letters or digits: what an AtomicFile, an
// archive being written or a file being restored is called until it is put in place.
bool is_temporary_name(std::string_view name) noexcept;

// Creates a temporary for the file `name` in the folder open on `folder`, named by that
// convention (O_EXCL, never through a symlink), with exactly `mode`. Returns its descriptor
// and its name. Throws as system_error() naming `shown`.
std::pair<int, std::string> create_temporary_at(int folder, std::string_view name, mode_t mode,
                                                std::string_view shown);

// Renames `from` in the folder open on `from_folder` to `to` in `to_folder` without ever
// replacing `to`: renameat2(RENAME_NOREPLACE), or where the file system lacks it a hard link
// and the removal of `from`. Returns 0 or the errno (EEXIST when `to` exists).
int rename_without_replacing_at(int from_folder, const std::string& from, int to_folder,
                                const std::string& to) noexcept;

// Writes `content` to `target` through an AtomicFile and commits it.
void write_file_atomically(const std::filesystem::path& target, std::string_view content,
                           mode_t mode = 0600, Existing existing = Existing::replace);

}  // namespace common
