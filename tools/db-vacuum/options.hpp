#pragma once
// db-vacuum's command line, parsed into a plain struct.

#include "common/options.hpp"
#include "common/paths.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>

namespace db_vacuum {

// What one run does: status (the default) changes nothing; check only reads.
enum class Action { status, migrate, incremental, full, automatic, checkpoint, check };

// PRAGMA quick_check or PRAGMA integrity_check.
enum class CheckKind { quick, full };

// Everything a run needs, resolved from flags, environment, configuration and defaults.
struct Options {
    Action action = Action::status;
    std::int64_t incremental_pages = 0;  // 0: every free page
    CheckKind check = CheckKind::quick;
    std::optional<std::filesystem::path> backup;
    std::int64_t threshold_pages = 256;
    double threshold_fraction = 0.10;
    bool record = true;
    common::SharedOptions shared;
};

// Parses argv (flags, then environment, then configuration file, then defaults); the output
// is text when `stdout_is_terminal`, else JSON, unless --format or --json says.
// Throws Error 64 for bad usage and 78 for a bad configuration file; never exits.
Options parse_options(std::span<char*> args, const common::EnvLookup& env, bool stdout_is_terminal);

// The text --help prints.
std::string help_text();

// The name of an action as the JSON output and maintenance_runs spell it.
std::string_view action_name(Action action);

}  // namespace db_vacuum
