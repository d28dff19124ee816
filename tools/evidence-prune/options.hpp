#pragma once
// evidence-prune's command line, parsed into a plain struct.

#include "common/options.hpp"
#include "common/paths.hpp"
#include "policy.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evidence_prune {

// What one run does. Only run, apply and restore change anything.
enum class Mode { run, dry_run, check, plan, apply, restore };

// Everything a run needs, resolved from flags, environment, configuration and defaults.
struct Options {
    Mode mode = Mode::run;
    Policy policy;
    std::vector<std::string> protect;       // SPEC-IDs never touched
    bool force_unverified = false;          // --restore an archive without a checksum list
    bool rows_of_others = false;            // retention also on rows without a batch_id
    bool explain = false;                   // each decision and its reason on stderr
    bool progress = false;                  // a progress line on stderr (stderr is a terminal)
    std::filesystem::path plan_file;        // --plan output or --apply input ("-": stdout/stdin)
    std::filesystem::path restore_archive;  // --restore
    std::optional<std::filesystem::path> database;  // nullopt: files only
    bool database_required = false;                 // named by flag, environment or configuration
    bool evidence_required = false;                 // the root was named, so it must exist
    // The evidence roots, each locked and pruned on its own (--evidence repeated, or the
    // configuration's list); shared.evidence is the first. Empty: shared.evidence alone.
    std::vector<std::filesystem::path> roots;
    common::SharedOptions shared;
    // Called with the name of a point of no return ("archive-written", "archive-recorded",
    // "file-removed"); tests use it to kill the process there. Empty: nothing is called.
    // "file-removed" comes from the threads that remove originals, one call at a time, and
    // may come while the main thread calls it for another point.
    std::function<void(std::string_view point)> crash_hook;
};

// Parses argv (flags, then environment, then configuration file, then defaults).
// Throws Error 64 for bad usage and 78 for a bad configuration file; never exits.
// `stdout_is_terminal` picks the default format (text, else JSON Lines) and
// `stderr_is_terminal` decides whether a progress line is shown.
Options parse_options(std::span<char*> args, const common::EnvLookup& env, bool stdout_is_terminal,
                      bool stderr_is_terminal);

// The text --help prints.
std::string help_text();

// "run", "dry-run", ...: the mode as the summary and maintenance_runs spell it.
std::string_view mode_name(Mode mode);

}  // namespace evidence_prune
