#pragma once
// The project's one error type and the exit codes every tool shares.

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace common {

// Exit status of every tool (sysexits.h numbering), listed in each man page.
enum class Exit : int {
    ok = 0,
    failed = 1,        // finished, but some items failed
    limit = 2,         // a check found a limit passed
    usage = 64,        // bad command line
    data = 65,         // bad input data: malformed JSON, not a SQLite file, newer schema
    no_input = 66,     // input missing
    software = 70,     // internal error
    cant_create = 73,  // cannot create output
    io = 74,           // I/O error
    temp_fail = 75,    // busy or locked: try again later
    no_perm = 77,      // permission denied, read-only file
    config = 78,       // bad configuration
};

constexpr int to_int(Exit code) noexcept
{
    return static_cast<int>(code);
}

// Thrown by deep code; carries the exit code and a message naming what was wrong.
// Caught once, by the runner (see runner.hpp).
class Error : public std::runtime_error {
public:
    Error(Exit code, const std::string& message) : std::runtime_error(message), m_code(code) {}

    template <typename... Args>
    Error(Exit code, fmt::format_string<Args...> format, Args&&... args)
        : std::runtime_error(fmt::format(format, std::forward<Args>(args)...)), m_code(code)
    {
    }

    Exit code() const noexcept { return m_code; }

private:
    Exit m_code;
};

}  // namespace common
