#pragma once
// How one child is started: its pipes, the posix_spawn call with its own process group and
// default signals, its environment with the supervisor entry, and its start time. Private to
// libcommon's process sources.

#include "common/process.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace common::child_start {

// The variable each child carries, naming the set and child it belongs to, by which what it
// leaves behind is found.
constexpr std::string_view supervisor_variable = "SPEC_HYGIENE_SUPERVISOR";

// Closes `fd` unless it is -1, and sets it to -1.
void close_fd(int& fd) noexcept;

// Both ends of a pipe, closed on exec; each closed with the object unless released.
struct Pipe {
    int read = -1;
    int write = -1;

    // Throws Error 70 when no pipe can be made (out of descriptors).
    Pipe();
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe()
    {
        close_fd(read);
        close_fd(write);
    }
    int release_read() { return std::exchange(read, -1); }
    int release_write() { return std::exchange(write, -1); }
};

void set_nonblocking(int fd);

// A pidfd for `pid`, or -1 where the kernel has none (before 5.3).
int open_pidfd(pid_t pid) noexcept;

// Why `command` cannot start, when that is known without trying.
std::optional<SpawnResult> refusal_of(const Command& command);

struct Spawned {
    int error = 0;  // posix_spawnp's
    pid_t pid = -1;
    std::chrono::steady_clock::time_point before;  // just before posix_spawnp
    std::chrono::steady_clock::time_point after;   // once it returned: the child had exec'd
    // CLOCK_BOOTTIME around the call, between which the child was made.
    std::int64_t boot_before_ns = 0;
    std::int64_t boot_after_ns = 0;
};

// The start time of the child made between `spawned`'s two readings of CLOCK_BOOTTIME, in
// /proc's clock ticks: the tick both fall in when they fall in the same (nearly always, a
// start takes well under a tick), else read from /proc/PID/stat.
std::optional<std::uint64_t> start_ticks_of(const Spawned& spawned);

// Starts `command` with the pipes given as its standard streams (the command's own
// descriptors, or /dev/null for stdin, where none is). glibc's posix_spawn returns once the
// child has exec'd (or failed to, which it reports).
Spawned spawn_with(const Command& command, std::vector<char*> envp, const std::optional<Pipe>& in,
                   const std::optional<Pipe>& out, const std::optional<Pipe>& err);

// The child's environment: the command's (or this process's), its supervisor entries replaced
// by `marker_entry`. Points into those strings and `marker_entry`: nothing is copied.
std::vector<char*> environment_of(const Command& command, const std::string& marker_entry);

}  // namespace common::child_start
