#pragma once
// Advisory whole-file locks (flock) on lock files, as the evidence writers use them.

#include <filesystem>
#include <optional>

namespace common {

// An exclusive flock held on a lock file for the lifetime of the object. The lock file is
// created when missing and never followed through a symlink.
class FileLock {
public:
    // Takes the lock without waiting: nullopt when another holder has it.
    // Throws Error 73 when the lock file cannot be opened or created.
    static std::optional<FileLock> try_acquire(const std::filesystem::path& file);
    // Waits until the lock is free.
    static FileLock acquire(const std::filesystem::path& file);
    // True when someone holds an exclusive lock on `file` now; a missing file is not held.
    static bool is_held(const std::filesystem::path& file);

    FileLock(FileLock&& other) noexcept;
    FileLock& operator=(FileLock&&) = delete;
    FileLock(const FileLock&) = delete;
    ~FileLock();

private:
    explicit FileLock(int fd) : m_fd(fd) {}
    int m_fd;
};

}  // namespace common
