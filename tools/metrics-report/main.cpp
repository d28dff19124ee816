#include "common/cli.hpp"
#include "common/host.hpp"
#include "common/jsonl.hpp"
#include "common/paths.hpp"
#include "common/runner.hpp"
#include "metrics_report.hpp"

#include <chrono>
#include <iostream>
#include <span>
#include <unistd.h>

int main(int argc, char** argv)
{
    return common::run_tool("metrics-report", argc, argv, [](std::span<char*> args) {
        const auto options = metrics_report::parse_options(args, common::process_env,
                                                           std::chrono::system_clock::now(),
                                                           common::stdout_is_terminal());
        if (options.shared.help) {
            std::cout << metrics_report::help_text();
            return 0;
        }
        if (options.shared.version) {
            std::cout << common::version_line("metrics-report") << '\n';
            return 0;
        }
        // Read through the descriptor, so that a read error is told from the end of input.
        common::FdInputBuffer stdin_buffer(STDIN_FILENO, "stdin");
        std::istream in(&stdin_buffer);
        return metrics_report::run(options, in, std::cout, std::cerr);
    });
}
