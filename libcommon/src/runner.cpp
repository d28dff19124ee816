#include "common/runner.hpp"

#include "common/error.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

namespace common {

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
        fmt::print(stderr, "{}: error: {}\n", tool, error.what());
        if (error.code() == Exit::usage)
            fmt::print(stderr, "Try '{} --help' for more information.\n", tool);
        return to_int(error.code());
    } catch (const std::bad_alloc&) {
        fmt::print(stderr, "{}: error: out of memory\n", tool);
        return to_int(Exit::software);
    } catch (const std::exception& error) {
        fmt::print(stderr, "{}: error: internal error: {}\n", tool, error.what());
        return to_int(Exit::software);
    }
    // Results that never reached the disk or the reader are not success.
    std::cout.flush();
    if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
        fmt::print(stderr, "{}: error: cannot write to standard output\n", tool);
        return to_int(Exit::io);
    }
    return code;
}

}  // namespace common
