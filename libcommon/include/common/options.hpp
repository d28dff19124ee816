#pragma once
// The options every tool shares, as plain values after resolution (see cli.hpp for parsing).

#include "common/config.hpp"

#include <filesystem>
#include <string>

namespace common {

// Which of the shared options a tool offers besides --help, --version, --quiet, --verbose,
// --config and --format/--json.
struct SharedOptionSet {
    bool database = true;
    bool evidence = false;
};

// The shared options after resolution.
struct SharedOptions {
    bool help = false;
    bool version = false;
    bool quiet = false;
    bool verbose = false;
    std::string format;  // as given by --format/--json, else the tool's default
    std::filesystem::path database;
    std::filesystem::path evidence;
    int busy_timeout_ms = 5000;
    Config config;
};

}  // namespace common
