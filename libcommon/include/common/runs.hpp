#pragma once
// The lifecycle of recorded agent runs that outlive the process that started them.

#include "common/sqlite.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <sys/types.h>

namespace common {

// A process as the kernel knows it: the pid and its start time (clock ticks after boot, from
// /proc/PID/stat), so that a reused pid is told apart from the process that first had it.
// A start time of 0 means it could not be read when the identity was taken.
struct ProcessIdentity {
    pid_t pid = 0;
    std::uint64_t start_ticks = 0;
};

enum class Liveness {
    alive,    // the process exists (possibly under another user) and is the one recorded
    gone,     // no such process, a zombie, or its pid now belongs to another process
    unknown,  // cannot tell (an invalid pid, kill() failing otherwise): never taken as gone
};

// The start time of `pid` and whether it is a zombie; nullopt when /proc/PID/stat cannot be
// read (hidepid, another pid namespace, no /proc mounted).
struct ProcessStat {
    std::uint64_t start_ticks = 0;
    bool zombie = false;
    pid_t parent = 0;
};
std::optional<ProcessStat> read_process_stat(pid_t pid);

// This process's identity.
ProcessIdentity current_process();

// Whether `process` still runs: kill(pid, 0) says whether the pid exists (ESRCH: gone; EPERM:
// exists under another user), then the start time, where /proc can be read, says whether it
// is still the same process. An unreadable /proc never makes a live process gone.
Liveness process_liveness(
    const ProcessIdentity& process,
    const std::function<std::optional<ProcessStat>(pid_t)>& read_stat = read_process_stat);

// Finishes what a spawn-agents that died left unfinished: in every unfinished batch whose
// owner is gone, `running` agent_executions rows become `lost`, and the batch row gets its
// finished_at and successes, also when all its agents had finished before the owner died.
// An owner whose liveness is unknown is left alone. Needs the toolkit schema; one IMMEDIATE
// transaction. Then what is left of those agents is killed (SIGKILL to the agent and its
// group) when the probe says the recorded agent (pid and start time) is still alive.
// Returns the number of runs marked lost.
using LivenessProbe = std::function<Liveness(const ProcessIdentity&)>;
int mark_lost_runs(
    Database& db, const RetryPolicy& retry = {},
    const LivenessProbe& liveness = [](const ProcessIdentity& process) {
        return process_liveness(process);
    });

}  // namespace common
