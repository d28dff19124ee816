#include "support/process.hpp"

#include "common/process.hpp"

#include <stdexcept>

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

}  // namespace test_support
