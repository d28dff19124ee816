#pragma once
// The options every tool shares, parsed in one place, and how they resolve against the
// environment, the configuration file and the defaults.

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/paths.hpp"

#include <cxxopts.hpp>

#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>

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

// Adds the shared options to `options`; `formats` lists the tool's --format values, the
// first being the default when stdout is not a terminal.
void add_shared_options(cxxopts::Options& options, const SharedOptionSet& set,
                        std::string_view formats_help);

// Parses argv. cxxopts errors become Error 64.
cxxopts::ParseResult parse_arguments(cxxopts::Options& options, std::span<char*> args);

// Reads the shared options out of `result`, loads the configuration file (--config, else the
// default when it exists) and resolves the database and evidence paths: flag, environment,
// configuration, default. `formats` are the allowed --format values; `default_format` is used
// when none is given. Throws Error 64 for a bad --format, 78 for a bad configuration.
SharedOptions resolve_shared_options(const cxxopts::ParseResult& result, const EnvLookup& env,
                                     std::span<const std::string_view> formats,
                                     std::string_view default_format);

// "db-vacuum (spec-hygiene) 0.1.0"
std::string version_line(std::string_view tool);

// The value of flag `name` when given, else nullopt.
template <typename T>
std::optional<T> flag(const cxxopts::ParseResult& result, const std::string& name)
{
    if (result.count(name) == 0) return std::nullopt;
    return result[name].as<T>();
}

// Flag, then configuration, then default.
template <typename T> T pick(std::optional<T> from_flag, std::optional<T> from_config, T fallback)
{
    if (from_flag) return *from_flag;
    if (from_config) return *from_config;
    return fallback;
}

// A policy number: flag `--flag_name`, then `section.key` of the configuration, then
// `fallback`. A value outside [min, max] is Error 64 when it came from the flag and 78 when it
// came from the file, each naming where it was set.
template <typename T>
T bounded_setting(const cxxopts::ParseResult& result, const std::string& flag_name,
                  const Config& config, std::string_view section, std::string_view key, T fallback,
                  T min, T max = std::numeric_limits<T>::max())
{
    const auto range = [&] {
        return max == std::numeric_limits<T>::max()
                   ? fmt::format("must be at least {}", min)
                   : fmt::format("must be between {} and {}", min, max);
    };
    if (auto given = flag<T>(result, flag_name)) {
        if (*given < min || *given > max)
            throw Error(Exit::usage, "--{} {}, not {}", flag_name, range(), *given);
        return *given;
    }
    if (auto configured = config.get<T>(section, key)) {
        if (*configured < min || *configured > max)
            throw Error(Exit::config, "{}: {}.{} {}, not {}", config.source(), section, key,
                        range(), *configured);
        return *configured;
    }
    return fallback;
}

// True when stdout is a terminal (tools then default to output for people).
bool stdout_is_terminal();

}  // namespace common
