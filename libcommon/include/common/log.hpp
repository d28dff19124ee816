#pragma once
// What a tool says on stderr besides its errors: nothing with --quiet, each step with
// --verbose, each line printable() (a name's control characters never reach the terminal).
// Errors are the runner's (runner.hpp) and are never suppressed.

#include "common/options.hpp"
#include "common/sqlite.hpp"

#include <ostream>
#include <string>
#include <string_view>

namespace common {

class Log {
public:
    // Lines go to `err` as "TOOL: message"; `shared` gives --quiet and --verbose.
    Log(std::string_view tool, std::ostream& err, const SharedOptions& shared);

    bool quiet() const { return m_quiet; }
    bool verbose() const { return m_verbose; }

    // A line under --verbose only ("db-vacuum: vacuum done in 12.0 ms").
    void step(std::string_view message) const;
    // A warning or note for people: printed unless --quiet.
    void note(std::string_view message) const;

    // SPEC.md's retry policy, whose waits are told under --verbose:
    // "db-vacuum: busy, retrying in 150 ms, attempt 1 of 3".
    RetryPolicy retry_policy() const;

private:
    std::string m_tool;
    std::ostream* m_err;
    bool m_quiet;
    bool m_verbose;
};

}  // namespace common
