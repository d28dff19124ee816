#include "common/cli.hpp"
#include "common/host.hpp"
#include "common/paths.hpp"
#include "common/runner.hpp"
#include "evidence_prune.hpp"
#ifdef SPEC_HYGIENE_TEST_HOOKS
#include "test_hooks.hpp"
#endif

#include <iostream>
#include <span>
#include <unistd.h>

int main(int argc, char** argv)
{
    return common::run_tool(
        "evidence-prune", argc, argv,
        [](std::span<char*> args) {
            return evidence_prune::parse_options(args, common::process_env,
                                                 common::stdout_is_terminal(),
                                                 ::isatty(STDERR_FILENO) == 1);
        },
        evidence_prune::help_text,
        [](evidence_prune::Options options) {
#ifdef SPEC_HYGIENE_TEST_HOOKS
            evidence_prune::install_test_hooks(options);
#endif
            return evidence_prune::run(options, common::system_clock(), std::cout, std::cerr);
        });
}
