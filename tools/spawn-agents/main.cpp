#include "common/cli.hpp"
#include "common/paths.hpp"
#include "common/runner.hpp"
#include "spawn_agents.hpp"

#include <iostream>
#include <span>
#include <unistd.h>

int main(int argc, char** argv)
{
    return common::run_tool(
        "spawn-agents", argc, argv,
        [](std::span<char*> args) {
            return spawn_agents::parse_options(args, common::process_env,
                                               ::isatty(STDERR_FILENO) == 1);
        },
        spawn_agents::help_text,
        [](const spawn_agents::Options& options) {
            return spawn_agents::run(options, std::cout, std::cerr);
        });
}
