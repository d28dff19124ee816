#pragma once
// The processes below this one: orphans made to come back to it (a child subreaper), found
// through /proc's parent links, signalled only while their start time still matches.

#include "common/runs.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace common {

// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER), so that
// a process that leaves its parent, group or session stays below it and can be found and
// ended. Returns false where the kernel refuses.
bool become_subreaper() noexcept;

// The live (not zombie) processes below `root`, parents before children; empty when /proc
// cannot be read.
std::vector<ProcessIdentity> descendants_of(pid_t root);

// The live processes below `root` whose environment has an entry `name`, with its value:
// what one supervised child started can be told by it wherever it has gone below `root`
// since (into a session of its own, or back to `root` when its parent ended).
std::vector<std::pair<ProcessIdentity, std::string>> descendants_with(pid_t root,
                                                                      std::string_view name);

// Sends `signal` to each of `processes` whose start time still matches (never a reused pid).
void signal_processes(std::span<const ProcessIdentity> processes, int signal) noexcept;

// SIGKILLs every process below this one and reaps those that are (or come back as) its
// children, round after round until none is left or a few seconds have passed. Call it when
// no child supervised by a ProcessSet is running any more. Returns how many it killed.
std::size_t end_descendants();

}  // namespace common
