#include "support/process.hpp"

#include "common/process.hpp"

#include <fstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace test_support {

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input,
                          const std::map<std::string, std::string>& env)
{
    common::ProcessSet children;
    const auto started = children.start(
        {.argv = argv, .environment = common::environment_with(env), .input = input});
    if (!started.ok()) throw std::runtime_error(started.message);

    ProcessResult result;
    while (children.running() > 0) {
        for (auto& child : children.wait(std::nullopt).finished) {
            result.exit_code = child.exit_code ? *child.exit_code : 128 + child.signal.value_or(0);
            result.out = std::move(child.out);
            result.err = std::move(child.err);
        }
    }
    return result;
}

common::ProcessIdentity gone_process()
{
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return {child, 1};
}

bool alive(pid_t pid)
{
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

}  // namespace test_support
