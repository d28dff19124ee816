#pragma once
// Advisory whole-file locks (flock) on lock files, as the evidence writers use them.

#include <filesystem>
#include <optional>
#include <string>

namespace common {

// What a probe can say about a lock.
enum class LockState {
    free,     // nobody holds it (or the lock file does not exist)
    held,     // someone holds an exclusive lock on it now
    unknown,  // the probe cannot tell (no permission, a symlink, a file system without flock):
              // callers treat it as held
};

// An exclusive flock held on a lock file for the lifetime of the object. The lock file is
// created when missing and never followed through a symlink.
//
// Holders take exclusive locks; probe() takes a shared one for an instant. A shared lock
// alone therefore means "a probe is looking", and try_acquire() waits it out instead of
// failing, so that a probe never makes a writer give up.
class FileLock {
public:
    // Takes the lock without waiting for a holder: nullopt when another holder has it
    // (after waiting out shared locks for up to a second). Throws Error 73 when the lock file
    // cannot be opened or created, 74 when flock fails.
    static std::optional<FileLock> try_acquire(const std::filesystem::path& file);
    // Waits until the lock is free.
    static FileLock acquire(const std::filesystem::path& file);
    // Whether someone holds `file` now, without creating it. Never throws. It tries a shared
    // lock and drops it at once: /proc/locks would disturb nobody, but it hides locks of
    // processes in other pid namespaces (and of exited processes whose children keep the
    // descriptor), so an empty answer there proves nothing.
    static LockState probe(const std::filesystem::path& file) noexcept;
    // Takes the lock on the file `name` of the folder open on `folder` without waiting for a
    // holder (shared probes are waited out, as try_acquire does), creating it (0644) when
    // missing. Never follows a symlink and never blocks on a FIFO: nullopt when another holder
    // has it or when `name` is not a regular file that can be opened and locked, so that a
    // caller leaves alone what the lock guards. Never throws.
    static std::optional<FileLock> try_acquire_at(int folder, const std::string& name) noexcept;

    FileLock(FileLock&& other) noexcept;
    FileLock& operator=(FileLock&&) = delete;
    FileLock(const FileLock&) = delete;
    ~FileLock();

private:
    explicit FileLock(int fd) : m_fd(fd) {}
    int m_fd;
};

}  // namespace common
