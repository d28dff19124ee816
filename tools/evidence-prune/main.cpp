#include "common/cli.hpp"
#include "common/paths.hpp"
#include "common/runner.hpp"
#include "evidence_prune.hpp"

#include <csignal>
#include <iostream>
#include <span>
#include <unistd.h>

int main(int argc, char** argv)
{
    return common::run_tool("evidence-prune", argc, argv, [](std::span<char*> args) {
        auto options =
            evidence_prune::parse_options(args, common::process_env, ::isatty(STDERR_FILENO) == 1);
        if (options.shared.help) {
            std::cout << evidence_prune::help_text();
            return 0;
        }
        if (options.shared.version) {
            std::cout << common::version_line("evidence-prune") << '\n';
            return 0;
        }
        // Test hook: SPEC_HYGIENE_TEST_CRASH_AT=POINT kills the process with SIGKILL at that
        // point of no return, so that tests can check what the next run finds.
        if (auto point = common::process_env("SPEC_HYGIENE_TEST_CRASH_AT"))
            options.crash_hook = [point = *point](std::string_view reached) {
                if (reached == point) ::kill(::getpid(), SIGKILL);
            };
        return evidence_prune::run(options, common::system_clock(), std::cout, std::cerr);
    });
}
