#pragma once
// metrics-report's command line, parsed into a plain struct.

#include "common/clock.hpp"
#include "common/options.hpp"
#include "common/paths.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>

namespace metrics_report {

// Where the records come from.
enum class Source { database, stream };

// Which records a report covers. A window of nullopt means every record.
struct Selection {
    std::optional<std::int64_t> spawns = 1000;  // newest agent spawns
    std::optional<std::int64_t> batches = 100;  // newest batches
    std::optional<common::TimePoint> since;
    std::optional<std::string> spec;
    std::optional<std::string> stage;
    std::optional<std::string> agent;
};

// The evidence limits the health section measures against, in bytes.
struct EvidenceLimits {
    std::uint64_t warn_spec = 45ull << 20;
    std::uint64_t limit_spec = 50ull << 20;
    std::uint64_t limit_total = 500ull << 20;
};

// Everything a run needs, resolved from flags, environment, configuration and defaults.
struct Options {
    Source source = Source::database;
    std::filesystem::path from;  // with Source::stream: "-" for stdin, else a file
    Selection selection;
    bool compare = false;
    std::optional<double> max_p95_ms;
    std::optional<double> min_success_rate;
    bool require_samples = false;
    std::optional<std::filesystem::path> output;
    EvidenceLimits limits;
    common::SharedOptions shared;
};

// Parses argv (flags, then environment, then configuration file, then defaults); `now`
// anchors a relative --since and `stdout_is_terminal` picks the default format (table or
// JSON). Throws Error 64 for bad usage and 78 for a bad configuration file; never exits.
Options parse_options(std::span<char*> args, const common::EnvLookup& env, common::TimePoint now,
                      bool stdout_is_terminal);

// The text --help prints.
std::string help_text();

}  // namespace metrics_report
