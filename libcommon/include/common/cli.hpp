#pragma once
// Command-line parsing with cxxopts: the options every tool shares, parsed in one place, and
// how they resolve against the environment, the configuration file and the defaults.

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/options.hpp"
#include "common/paths.hpp"

#include <cxxopts.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace common {

// Adds the shared options in `set` to `options`; `formats_help` describes --format.
void add_shared_options(cxxopts::Options& options, const SharedOptionSet& set,
                        std::string_view formats_help);

// Parses argv. cxxopts errors become Error 64 with one line naming the flag ("--jobs: 'abc' is
// not a number", "--nope: no such option", "--db: needs a value").
cxxopts::ParseResult parse_arguments(cxxopts::Options& options, std::span<char*> args);

// Reads the shared options out of `result`, loads the configuration file (--config, else the
// default when it exists) and resolves the paths the tool's `set` offers: flag, environment,
// configuration, default. `formats` are the allowed --format values; `default_format` is used
// when none is given. Throws Error 64 for a bad --format, 78 for a bad configuration.
SharedOptions resolve_shared_options(const cxxopts::ParseResult& result, const EnvLookup& env,
                                     const SharedOptionSet& set,
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

// A policy number: flag `--flag_name`, then `section.key` of the configuration, then
// `fallback`. A value outside [min, max] is Error 64 when it came from the flag and 78 when it
// came from the file, each naming where it was set.
template <typename T>
T bounded_setting(const cxxopts::ParseResult& result, const std::string& flag_name,
                  const Config& config, std::string_view section, std::string_view key, T fallback,
                  T min, T max = std::numeric_limits<T>::max())
{
    // Names the bound that was passed.
    const auto range = [&](auto value) {
        return value < min ? fmt::format("must be at least {}", min)
                           : fmt::format("must be at most {}", max);
    };
    if (auto given = flag<T>(result, flag_name)) {
        if (*given < min || *given > max)
            throw Error(Exit::usage, "--{}: {}, not {}", flag_name, range(*given), *given);
        return *given;
    }
    // Read wide and check before narrowing, so that 4294967296 is not taken for 0.
    using Wide = std::conditional_t<std::is_integral_v<T>, std::int64_t, double>;
    if (auto configured = config.get<Wide>(section, key)) {
        if (*configured < static_cast<Wide>(min) || *configured > static_cast<Wide>(max))
            throw Error(Exit::config, "{}: {}.{} {}, not {}", config.source(), section, key,
                        range(*configured), *configured);
        return static_cast<T>(*configured);
    }
    return fallback;
}

}  // namespace common
