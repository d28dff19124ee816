#pragma once
// Runs a real binary and captures what a user would see: exit code, stdout, stderr.

#include <map>
#include <string>
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

}  // namespace test_support
