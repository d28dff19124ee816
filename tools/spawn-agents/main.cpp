#include "common/cli.hpp"
#include "common/paths.hpp"
#include "common/runner.hpp"
#include "spawn_agents.hpp"

#include <iostream>
#include <span>
#include <unistd.h>

int main(int argc, char** argv)
{
    return common::run_tool("spawn-agents", argc, argv, [](std::span<char*> args) {
        const auto options =
            spawn_agents::parse_options(args, common::process_env, ::isatty(STDERR_FILENO) == 1);
        if (options.shared.help) {
            std::cout << spawn_agents::help_text();
            return 0;
        }
        if (options.shared.version) {
            std::cout << common::version_line("spawn-agents") << '\n';
            return 0;
        }
        return spawn_agents::run(options, std::cout, std::cerr);
    });
}
