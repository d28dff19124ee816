#include "common/runner.hpp"

#include "common/error.hpp"
#include "common/output.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

namespace common {

std::string one_line(std::string_view message)
{
    std::string line;
    bool in_break = false;
    for (std::size_t i = 0; i < message.size(); ++i) {
        const char c = message[i];
        const auto byte = static_cast<unsigned char>(c);
        if (c1_control_at(message, i)) {
            ++i;
            in_break = false;
            line += ' ';
            continue;
        }
        const bool is_break = c == '\n' || c == '\r';
        const bool is_space = is_break || c == ' ' || c == '\t';
        if (in_break && is_space) continue;
        in_break = is_break;
        if (is_break) {
            while (!line.empty() && (line.back() == ' ' || line.back() == '\t'))
                line.pop_back();
            if (!line.empty()) line += ' ';
        } else {
            line += byte < 0x20 || byte == 0x7f ? ' ' : c;
        }
    }
    while (!line.empty() && line.back() == ' ')
        line.pop_back();
    return line;
}

namespace {

// "tool: error: message" on stderr, on one line. A closed or full stderr is ignored: the
// exit code still tells what happened, and there is nowhere left to say more.
void report(std::string_view tool, std::string_view message)
{
    const auto line = fmt::format("{}: error: {}\n", tool, one_line(message));
    static_cast<void>(std::fputs(line.c_str(), stderr));
}

}  // namespace

int run_tool(std::string_view tool, int argc, char** argv,
             const std::function<int(std::span<char*> args)>& body)
{
    // A closed pipe must surface as a failed write (exit 74), not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    int code = 0;
    try {
        code = body(std::span<char*>(argv, static_cast<std::size_t>(argc)));
    } catch (const Error& error) {
        std::cout.flush();
        report(tool, error.what());
        return to_int(error.code());
    } catch (const std::bad_alloc&) {
        report(tool, "out of memory");
        return to_int(Exit::software);
    } catch (const std::exception& error) {
        report(tool, fmt::format("internal error: {}", error.what()));
        return to_int(Exit::software);
    }
    // Results that never reached the disk or the reader are not success.
    std::cout.flush();
    if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
        report(tool, "cannot write to standard output");
        return to_int(Exit::io);
    }
    return code;
}

}  // namespace common
