#include "common/cli.hpp"
#include "common/paths.hpp"
#include "common/runner.hpp"
#include "evidence_prune.hpp"

#include <csignal>
#include <iostream>
#include <span>
#include <string>
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
#ifdef SPEC_HYGIENE_TEST_HOOKS
        // Only in the test build: SPEC_HYGIENE_TEST_CRASH_AT=POINT kills the process with
        // SIGKILL at that point of no return, or =files:N once N originals are gone, so that
        // tests can check what the next run finds.
        // SPEC_HYGIENE_TEST_SIGNAL_AT=POINT sends SIGTERM to the process there, or
        // =POINT:INT SIGINT, as a user or a service manager would.
        if (auto point = common::process_env("SPEC_HYGIENE_TEST_SIGNAL_AT")) {
            const auto colon = point->find(':');
            const int signal =
                colon != std::string::npos && point->substr(colon + 1) == "INT" ? SIGINT : SIGTERM;
            options.crash_hook = [at = point->substr(0, colon), signal](std::string_view reached) {
                if (reached == at) ::kill(::getpid(), signal);
            };
        }
        if (auto point = common::process_env("SPEC_HYGIENE_TEST_CRASH_AT"))
            options.crash_hook = [point = *point, removed = 0](std::string_view reached) mutable {
                if (reached == "file-removed" && point.starts_with("files:") &&
                    std::to_string(++removed) == point.substr(6))
                    ::kill(::getpid(), SIGKILL);
                if (reached == point) ::kill(::getpid(), SIGKILL);
            };
#endif
        return evidence_prune::run(options, common::system_clock(), std::cout, std::cerr);
    });
}
