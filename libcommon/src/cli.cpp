#include "common/cli.hpp"

#include "common/error.hpp"

#include <algorithm>
#include <functional>

#ifndef SPEC_HYGIENE_VERSION
#error "SPEC_HYGIENE_VERSION must be defined by the build"
#endif

namespace common {

void add_shared_options(cxxopts::Options& options, const SharedOptionSet& set,
                        std::string_view formats_help)
{
    auto add = options.add_options("Common");
    if (set.database) {
        add("db",
            "SQLite database (default: $SPEC_HYGIENE_DB, else "
            "$XDG_STATE_HOME/spec-hygiene/hygiene.db)",
            cxxopts::value<std::string>(), "PATH");
        add("busy-timeout", "how long to wait for another process's lock (default 5000)",
            cxxopts::value<int>(), "MS");
    }
    if (set.evidence)
        add("evidence",
            "evidence root (default: $SPEC_HYGIENE_EVIDENCE, else "
            "$XDG_STATE_HOME/spec-hygiene/evidence)",
            cxxopts::value<std::string>(), "PATH");
    add("config", "configuration file (default: $XDG_CONFIG_HOME/spec-hygiene/config.json)",
        cxxopts::value<std::string>(), "FILE");
    add("format", std::string(formats_help), cxxopts::value<std::string>(), "FORMAT");
    add("json", "same as --format json");
    add("q,quiet", "print nothing on stderr but errors, and no report for people");
    add("v,verbose", "say what is done, step by step, on stderr");
    add("h,help", "show this help and exit");
    add("version", "show the version and exit");
}

cxxopts::ParseResult parse_arguments(cxxopts::Options& options, std::span<char*> args)
{
    try {
        auto result = options.parse(static_cast<int>(args.size()), args.data());
        if (!result.unmatched().empty())
            throw Error(Exit::usage, "unexpected argument '{}'", result.unmatched().front());
        // Every option is single-valued: a second one is refused rather than silently winning.
        for (const auto& argument : result.arguments())
            if (result.count(argument.key()) > 1)
                throw Error(Exit::usage, "--{} given more than once", argument.key());
        return result;
    } catch (const cxxopts::exceptions::exception& error) {
        throw Error(Exit::usage, "{}", error.what());
    }
}

namespace {

// Flag, then environment, then the "common" section of the configuration, then the default,
// which is only computed when needed (it may need $HOME).
std::filesystem::path resolve_path(const cxxopts::ParseResult& result, const std::string& name,
                                   const std::optional<std::string>& from_env, const Config& config,
                                   std::string_view key,
                                   const std::function<std::filesystem::path()>& fallback)
{
    if (auto given = flag<std::string>(result, name)) return *given;
    if (from_env) return *from_env;
    if (auto configured = config.text("common", key)) return *configured;
    return fallback();
}

}  // namespace

SharedOptions resolve_shared_options(const cxxopts::ParseResult& result, const EnvLookup& env,
                                     const SharedOptionSet& set,
                                     std::span<const std::string_view> formats,
                                     std::string_view default_format)
{
    SharedOptions shared;
    shared.help = result.count("help") > 0;
    shared.version = result.count("version") > 0;
    if (shared.help || shared.version) return shared;
    shared.quiet = result.count("quiet") > 0;
    shared.verbose = result.count("verbose") > 0;
    if (shared.quiet && shared.verbose) throw Error(Exit::usage, "--quiet and --verbose conflict");

    shared.format = std::string(default_format);
    if (result.count("json") > 0) shared.format = "json";
    if (auto format = flag<std::string>(result, "format")) {
        if (std::find(formats.begin(), formats.end(), *format) == formats.end())
            throw Error(Exit::usage, "--format: unknown format '{}'", *format);
        if (result.count("json") > 0 && *format != "json")
            throw Error(Exit::usage, "--json and --format {} conflict", *format);
        shared.format = *format;
    }

    if (auto file = flag<std::string>(result, "config"))
        shared.config = Config::load(*file);
    else if (auto found = default_config_file(env))
        shared.config = Config::load(*found);

    const auto& config = shared.config;
    if (set.database)
        shared.database = resolve_path(result, "db", env("SPEC_HYGIENE_DB"), config, "db",
                                       [&] { return default_db_path(env); });
    if (set.evidence)
        shared.evidence = resolve_path(result, "evidence", env("SPEC_HYGIENE_EVIDENCE"), config,
                                       "evidence", [&] { return default_evidence_root(env); });
    if (!set.database) return shared;

    shared.busy_timeout_ms =
        bounded_setting<int>(result, "busy-timeout", config, "common", "busy_timeout_ms", 5000, 0);
    return shared;
}

std::string version_line(std::string_view tool)
{
    return fmt::format("{} (spec-hygiene) {}", tool, SPEC_HYGIENE_VERSION);
}

}  // namespace common
