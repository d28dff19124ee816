#pragma once
// The lifecycle of recorded agent runs that outlive the process that started them.

#include "common/sqlite.hpp"

#include <cstdint>
#include <sys/types.h>

namespace common {

// A process as the kernel knows it: the pid and its start time, so that a reused pid is
// told apart from the process that first had it.
struct ProcessIdentity {
    pid_t pid = 0;
    std::uint64_t start_ticks = 0;
};

// This process's identity.
ProcessIdentity current_process();

// True while the process with this pid and start time is still running.
bool is_running(const ProcessIdentity& process);

// Marks `running` agent_executions rows whose spawn-agents process is gone (or whose pid now
// belongs to another process) as `lost`, and finishes their batches. Needs the toolkit schema.
// Returns the number of rows marked.
int mark_lost_runs(Database& db, const RetryPolicy& retry = {});

}  // namespace common
