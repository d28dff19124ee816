#pragma once
// Runs a real binary and captures what a user would see: exit code, stdout, stderr.

#include "common/runs.hpp"

#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace test_support {

struct ProcessResult {
    int exit_code = -1;  // 128 + signal when killed by a signal
    std::string out;
    std::string err;
};

// Runs `argv` (no shell) with `input` on stdin and extra environment variables; waits for it.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = {},
                          const std::map<std::string, std::string>& env = {});

// The identity of a process that has exited and been reaped: the owner of a batch that died.
common::ProcessIdentity gone_process();

// True while `pid` names a process that has not ended (a zombie has ended).
bool alive(pid_t pid);

}  // namespace test_support
