#include "common/cli.hpp"

#include "common/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

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

namespace {

// The first text between cxxopts' quotes in `message`: the option or argument it names.
std::string quoted_part(std::string_view message)
{
    constexpr std::string_view open = "\u2018";
    constexpr std::string_view close = "\u2019";
    const auto start = message.find(open);
    if (start == std::string_view::npos) return {};
    const auto from = start + open.size();
    return std::string(message.substr(from, message.find(close, from) - from));
}

std::string dashed(const std::string& name)
{
    return (name.size() == 1 ? "-" : "--") + name;
}

// Whether `options` take `value` for `flag` (a "-x" or "--name" as given), parsed alone.
bool accepts(cxxopts::Options& options, const std::string& flag, const std::string& value)
{
    std::vector<std::string> words{"tool"};
    if (flag.starts_with("--"))
        words.push_back(flag + "=" + value);
    else
        words.insert(words.end(), {flag, value});
    std::vector<char*> argv;
    for (auto& word : words)
        argv.push_back(word.data());
    try {
        static_cast<void>(options.parse(static_cast<int>(argv.size()), argv.data()));
        return true;
    } catch (const cxxopts::exceptions::exception&) {
        return false;
    }
}

// Why `value` is no good for `flag`, from what the flag takes.
std::string why_refused(cxxopts::Options& options, const std::string& flag,
                        const std::string& value)
{
    static const std::regex integer("[+-]?[0-9]+");
    static const std::regex decimal("[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?");
    if (accepts(options, flag, "true")) return fmt::format("'{}' is not true or false", value);
    if (accepts(options, flag, "0.5")) return fmt::format("'{}' is not a number", value);
    if (!accepts(options, flag, "0")) return fmt::format("'{}' is not a valid value", value);
    if (std::regex_match(value, integer)) return fmt::format("'{}' is out of range", value);
    if (std::regex_match(value, decimal)) return fmt::format("'{}' is not a whole number", value);
    return fmt::format("'{}' is not a number", value);
}

// "--jobs: 'abc' is not a number": cxxopts names only the argument, so the flag that was
// given it is found in `args` (as "--name=VALUE", "--name VALUE" or "-x VALUE") and proved
// to be the one that refuses it.
std::string refused_argument(cxxopts::Options& options, std::span<char*> args,
                             const std::string& value)
{
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string word = args[i];
        if (word == "--") break;
        std::string flag;
        if (word.starts_with("--") && word.ends_with("=" + value))
            flag = word.substr(0, word.size() - value.size() - 1);
        else if (word.starts_with("-") && i + 1 < args.size() && args[i + 1] == value)
            flag = word;
        if (!flag.empty() && !accepts(options, flag, value))
            return fmt::format("{}: {}", flag, why_refused(options, flag, value));
    }
    return fmt::format("'{}' is not a valid value", value);
}

// One line naming the flag, without cxxopts' typographic quotes.
std::string usage_message(cxxopts::Options& options, std::span<char*> args,
                          const cxxopts::exceptions::exception& error)
{
    const auto named = quoted_part(error.what());
    if (dynamic_cast<const cxxopts::exceptions::incorrect_argument_type*>(&error))
        return refused_argument(options, args, named);
    if (dynamic_cast<const cxxopts::exceptions::no_such_option*>(&error))
        return fmt::format("{}: no such option", dashed(named));
    if (dynamic_cast<const cxxopts::exceptions::missing_argument*>(&error) ||
        dynamic_cast<const cxxopts::exceptions::option_requires_argument*>(&error))
        return fmt::format("{}: needs a value", dashed(named));
    if (dynamic_cast<const cxxopts::exceptions::gratuitous_argument_for_option*>(&error))
        return fmt::format("{}: takes no value", dashed(named));
    if (dynamic_cast<const cxxopts::exceptions::invalid_option_syntax*>(&error))
        return fmt::format("'{}' is not an option", named);
    auto message = std::regex_replace(error.what(), std::regex("\u2018|\u2019"), "'");
    return message;
}

// A switch given a value ("--full=false"): cxxopts would take it, and a tool that asks only
// whether the switch is there would act on "false". A switch takes no value, as the synopsis
// says.
void refuse_valued_switches(const cxxopts::Options& options, std::span<char*> args)
{
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string_view word = args[i];
        if (word == "--") return;
        const auto equals = word.find('=');
        if (!word.starts_with("--") || equals == std::string_view::npos) continue;
        const auto name = word.substr(2, equals - 2);
        for (const auto& group : options.groups())
            for (const auto& option : options.group_help(group).options)
                if (option.is_boolean &&
                    std::find(option.l.begin(), option.l.end(), name) != option.l.end())
                    throw Error(Exit::usage, "--{}: takes no value", name);
    }
}

}  // namespace

cxxopts::ParseResult parse_arguments(cxxopts::Options& options, std::span<char*> args)
{
    refuse_valued_switches(options, args);
    try {
        auto result = options.parse(static_cast<int>(args.size()), args.data());
        if (!result.unmatched().empty())
            throw Error(Exit::usage, "unexpected argument '{}'", result.unmatched().front());
        // Every option is single-valued: a second one is refused rather than silently winning.
        for (const auto& argument : result.arguments())
            if (result.count(argument.key()) > 1)
                throw Error(Exit::usage, "--{}: given more than once", argument.key());
        return result;
    } catch (const cxxopts::exceptions::exception& error) {
        throw Error(Exit::usage, "{}", usage_message(options, args, error));
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
    // An empty path would name no file: "no database at" and nothing after it. An empty
    // variable counts as unset, as the shell's ${VAR:-default} has it.
    if (auto given = flag<std::string>(result, name)) {
        if (given->empty()) throw Error(Exit::usage, "--{} needs a path", name);
        return *given;
    }
    if (from_env && !from_env->empty()) return *from_env;
    if (auto configured = config.text("common", key)) {
        if (configured->empty())
            throw Error(Exit::config, "{}: common.{} needs a path", config.source(), key);
        return *configured;
    }
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
