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
    return common::run_tool(
        "metrics-report", argc, argv,
        [](std::span<char*> args) {
            return metrics_report::parse_options(args, common::process_env,
                                                 std::chrono::system_clock::now(),
                                                 common::stdout_is_terminal());
        },
        metrics_report::help_text,
        [](const metrics_report::Options& options) {
            // Read through the descriptor, so that a read error is told from the end of input.
            common::FdInputBuffer stdin_buffer(STDIN_FILENO, "stdin");
            std::istream in(&stdin_buffer);
            return metrics_report::run(options, in, std::cout, std::cerr);
        });
}
