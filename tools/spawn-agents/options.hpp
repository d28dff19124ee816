#pragma once
// spawn-agents' command line, parsed into a plain struct.

#include "common/options.hpp"
#include "common/paths.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

namespace spawn_agents {

// Everything a run needs, resolved from flags, environment, configuration and defaults.
struct Options {
    std::string batch = "-";                     // the batch file; "-" is stdin
    std::int64_t jobs = 0;                       // most agents running at once; 0: all of them
    bool sequential = false;                     // each agent starts after the one before has ended
    std::chrono::milliseconds timeout{600'000};  // for agents without timeout_s
    std::chrono::milliseconds kill_grace{5'000};    // SIGTERM to SIGKILL
    std::int64_t max_response = 1 << 20;            // bytes of stdout kept in response_text
    std::chrono::milliseconds lock_timeout{5'000};  // for the spec's lock; default: busy timeout
    bool status_line = false;                       // live status on stderr (a terminal)
    common::SharedOptions shared;
};

// Parses argv (flags, then environment, then configuration file, then defaults).
// `stderr_is_terminal` turns the live status line on unless --quiet. Throws Error 64 for bad
// usage and 78 for a bad configuration file; never exits.
Options parse_options(std::span<char*> args, const common::EnvLookup& env, bool stderr_is_terminal);

// The text --help prints.
std::string help_text();

}  // namespace spawn_agents
