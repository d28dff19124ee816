#pragma once
// Child processes: started with posix_spawn (no shell) in a process group of their own, with
// default signal dispositions and an empty signal mask; stdin fed and stdout/stderr drained by
// one poll loop; timeouts that kill the child, its group and every process found below it,
// also those that left the group (SIGTERM, a grace period, SIGKILL); SIGINT and SIGTERM
// received by this process passed on to all of them.

#include "common/runs.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <poll.h>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace common {

// What to start. argv[0] is looked up in PATH when it holds no '/'.
struct Command {
    std::vector<std::string> argv;
    // The child's whole environment as NAME=value entries; nullopt: this process's own.
    std::optional<std::vector<std::string>> environment;
    // The folder the child starts in; nullopt: this process's.
    std::optional<std::filesystem::path> cwd;
    // Bytes written to the child's stdin, which is closed after them; nullopt: /dev/null.
    std::optional<std::string> input;
    // SIGTERM to the child's group after this long, SIGKILL a grace period later; the
    // processes it left behind (with its SPEC_HYGIENE_SUPERVISOR entry) get the same at the
    // same times, even when the child itself ended sooner.
    std::optional<std::chrono::milliseconds> timeout;
    // Where the child's stdout and stderr go instead of a pipe (a file open for writing, which
    // the caller keeps owning and may close once start() returned): its output then streams
    // there without passing through this process, and FinishedChild's out and err stay empty.
    int stdout_fd = -1;
    int stderr_fd = -1;
    // With stderr on a pipe (no stderr_fd), what the child writes there is handed to this,
    // in order, at most 64 KiB a call, as it arrives, instead of being kept in
    // FinishedChild's err. Called from ProcessSet::wait(), the last time before the child's
    // FinishedChild is returned; it must not throw.
    std::function<void(std::string_view)> stderr_sink;
};

// This process's environment with `overrides` added or replacing entries of the same name.
std::vector<std::string> environment_with(const std::map<std::string, std::string>& overrides);

// Raises this process's soft limit on open descriptors as far as `wanted` children supervised
// at once by a ProcessSet need, with `reserve` descriptors left for everything else, but never
// past the hard limit; then returns how many of them fit (under a low hard limit with half the
// reserve), 0 when not even one does. The limit is raised no further than needed because
// children inherit it, and some programs do work per possible descriptor.
std::size_t make_room_for_children(std::size_t wanted, std::size_t reserve = 64);

// A spawn attempt: a running child, or why none could be started (the command is missing or
// not executable, the folder is missing, ...).
struct SpawnResult {
    std::size_t id = 0;  // the child's handle in its ProcessSet; meaningful when ok()
    pid_t pid = -1;
    // From just before posix_spawn until the child had exec'd (posix_spawn returned).
    std::int64_t latency_us = 0;
    // The child's start time as /proc/PID/stat gives it (clock ticks since boot), for telling
    // it from a later process with the same pid; nullopt when it cannot be known.
    std::optional<std::uint64_t> start_ticks;
    int error = 0;  // errno of the failed spawn, 0 when it started
    std::string message;
    bool ok() const { return error == 0; }
};

// Why a child stopped; a signal sent by the set tells why it was sent.
enum class Ending { exited, signaled, timed_out, cancelled };

// A child that has been reaped, with everything it wrote.
struct FinishedChild {
    std::size_t id = 0;
    pid_t pid = -1;
    Ending ending = Ending::exited;
    std::optional<int> exit_code;  // when it exited
    std::optional<int> signal;     // when a signal ended it
    std::int64_t run_time_us = 0;  // from spawn to reaping
    std::int64_t cpu_time_us = 0;  // user + system, from wait4's rusage
    std::int64_t max_rss_kb = 0;   // peak resident set size, from wait4's rusage
    std::string out;
    std::string err;
    bool input_complete = true;  // false when it stopped reading its stdin early (EPIPE)
};

// SIGINT and SIGTERM, blocked for as long as the object lives (in every thread started
// afterwards too) and read from a descriptor that ProcessSet::wait() watches. Create it before
// starting threads. Children start with an empty mask whatever this process blocks.
class SignalWatch {
public:
    // Throws Error 70 when the signals cannot be blocked or the descriptor made.
    SignalWatch();
    SignalWatch(const SignalWatch&) = delete;
    SignalWatch& operator=(const SignalWatch&) = delete;
    // Restores the previous mask; a signal that arrived meanwhile stays pending for it.
    ~SignalWatch();

    int fd() const { return m_fd; }
    // The signal waiting to be read, when one is; never blocks.
    std::optional<int> take();

private:
    int m_fd = -1;
    struct Mask;
    std::unique_ptr<Mask> m_previous;
};

// The events of one ProcessSet::wait().
struct WaitResult {
    std::vector<FinishedChild> finished;
    std::optional<int> signal;  // SIGINT or SIGTERM received by this process
};

// The children of one process, supervised by one thread. Their output is drained whatever its
// size (no deadlock), a child that never reads its stdin does not block the others, and a
// group whose leader has ended after a signal from the set is SIGKILLed after the grace.
// Constructing one ignores SIGPIPE in this process, so that a child that stops reading shows
// as EPIPE instead of killing it. What a child's descendants write to its stdout or stderr
// pipe after it ended is read and dropped until they close it (or this set is destroyed):
// they are neither blocked nor killed by SIGPIPE for writing there.
class ProcessSet {
public:
    explicit ProcessSet(std::chrono::milliseconds kill_grace = std::chrono::seconds(5));
    ProcessSet(const ProcessSet&) = delete;
    ProcessSet& operator=(const ProcessSet&) = delete;
    // SIGKILLs the groups of children still running and reaps them; never throws.
    ~ProcessSet();

    // Starts `command`. A command that cannot be started is a result with error set, not an
    // exception; throws Error 70 only when pipes cannot be made (out of descriptors).
    SpawnResult start(const Command& command);

    // Children started and not yet returned by wait().
    std::size_t running() const;

    // Pumps input and output until a child ends, a signal arrives on `signals`, or `max_wait`
    // passes (nullopt: no limit), sends the signals timeouts call for, and returns what
    // happened. Never blocks on a single child.
    WaitResult wait(std::optional<std::chrono::milliseconds> max_wait,
                    SignalWatch* signals = nullptr);

    // Sends `signal` to the group of every running child, marks them cancelled and starts
    // their grace period, after which their groups get SIGKILL.
    void cancel_all(int signal);

private:
    struct Child;
    // What a child with a timeout leaves behind, ended at its timeout and its grace's end.
    struct LeftBehind {
        std::string marker;  // the value of its SPEC_HYGIENE_SUPERVISOR entry
        std::optional<std::chrono::steady_clock::time_point> terminate_at;
        std::chrono::steady_clock::time_point kill_at;
    };
    // A group whose leader was reaped after a signal from the set: SIGKILL at the grace's end.
    struct Lingering {
        pid_t group;
        std::chrono::steady_clock::time_point kill_at;
        std::vector<ProcessIdentity> tree;  // what was below the child when it was signalled
    };
    using SteadyTime = std::chrono::steady_clock::time_point;
    // The cases of wait(): the signals due by `now` sent, returning when the next timer is
    // due (`deadline` included); one poll of every descriptor and what it found; a child's
    // end collected into `result` when it has one.
    std::optional<SteadyTime> send_due_signals(SteadyTime now, std::optional<SteadyTime> deadline);
    bool poll_once(SteadyTime now, std::optional<SteadyTime> next_timer, SignalWatch* signals,
                   WaitResult& result);
    bool reap(Child& child, WaitResult& result);
    // Signals the processes children left behind whose time has come; returns when the
    // next such time is.
    std::optional<SteadyTime> end_left_behind(SteadyTime now);

    // Reads what the pipes of ended children hold, dropping it, and closes those at their end.
    void drain_orphan_pipes(std::span<const pollfd> polled);

    std::vector<std::unique_ptr<Child>> m_children;
    // Read ends of the pipes of ended children that a descendant still holds open.
    std::vector<int> m_orphan_pipes;
    std::vector<Lingering> m_lingering;
    std::vector<LeftBehind> m_left_behind;
    std::chrono::milliseconds m_kill_grace;
    std::size_t m_next_id = 0;
};

}  // namespace common
