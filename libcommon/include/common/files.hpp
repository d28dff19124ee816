#pragma once
// Small file-system queries the tools share.

#include <cstdint>
#include <filesystem>
#include <string>

namespace common {

// The size of `file` in bytes, 0 when it does not exist.
std::uint64_t size_or_zero(const std::filesystem::path& file);

// Bytes available to this process on the file system holding `path` (or its nearest existing
// parent). Throws Error 74 when it cannot be asked.
std::uint64_t available_space(const std::filesystem::path& path);

// The whole content of `file` (a pipe too). Throws Error 66 when it is missing, 77 when
// permission is denied, 74 when it cannot be read; the message gives the system's reason.
std::string read_file(const std::filesystem::path& file);

// Flushes `path` (a file or a folder) to the disk. Throws Error 74 when that fails.
void sync_path(const std::filesystem::path& path);

// Whether one syncfs(2) of a file system writes about what flushing `own_bytes` of new files
// one by one would: true when all that waits to be written on the machine (/proc/meminfo's
// Dirty and Writeback) is at most `own_bytes` and 64 MiB more. A syncfs writes everything that
// waits on its file system, so behind another process's large write it could take seconds where
// the files' own flushes take milliseconds. False when /proc/meminfo cannot be read.
bool little_else_to_write(std::uint64_t own_bytes);

// Whether syncfs(2) reports a failed write (Linux 5.8 and later); before, it always succeeds,
// and only each file's own fsync says whether its data reached the disk.
bool syncfs_reports_errors();

// "1.5 MiB": a byte count for people.
std::string human_bytes(std::uint64_t bytes);

}  // namespace common
