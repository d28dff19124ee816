#pragma once
// The process entry every tool shares: errors are caught and reported here, once.

#include "common/cli.hpp"

#include <functional>
#include <iostream>
#include <span>
#include <string>
#include <string_view>

namespace common {

// `message` on one line: each line break and the blanks around it become one space (a SQL
// statement's layout), any other control character (C0, DEL, C1) a space.
std::string one_line(std::string_view message);

// Runs `body` with the program's arguments and returns the exit code for main().
// common::Error prints "tool: error: message" on stderr, on one line (see one_line), and
// returns its code (64 for an option-parsing error, its one line naming the flag); anything
// else returns 70. After the body, stdout is flushed: a failed write (full disk, closed pipe)
// returns 74.
int run_tool(std::string_view tool, int argc, char** argv,
             const std::function<int(std::span<char*> args)>& body);

// A tool's whole main(): run_tool() around `parse(args)`, which returns the tool's options
// (the shared ones under `.shared`), then --help (`help_text()`) or --version on stdout, else
// `run(options)`'s exit code.
template <typename Parse, typename HelpText, typename Run>
int run_tool(std::string_view tool, int argc, char** argv, Parse&& parse, HelpText&& help_text,
             Run&& run)
{
    return run_tool(tool, argc, argv, [&](std::span<char*> args) -> int {
        auto options = parse(args);
        if (options.shared.help) {
            std::cout << help_text();
            return 0;
        }
        if (options.shared.version) {
            std::cout << version_line(tool) << '\n';
            return 0;
        }
        return run(options);
    });
}

}  // namespace common
