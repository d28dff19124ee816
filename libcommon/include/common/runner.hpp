#pragma once
// The process entry every tool shares: errors are caught and reported here, once.

#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace common {

// `message` on one line: each line break and the blanks around it become one space (a SQL
// statement's layout), any other control character a space.
std::string one_line(std::string_view message);

// Runs `body` with the program's arguments and returns the exit code for main().
// common::Error prints "tool: error: message" on stderr, on one line (see one_line), and
// returns its code; an option-parsing error returns 64 with a hint to --help; anything else
// returns 70. After the body, stdout is flushed: a failed write (full disk, closed pipe)
// returns 74.
int run_tool(std::string_view tool, int argc, char** argv,
             const std::function<int(std::span<char*> args)>& body);

}  // namespace common
