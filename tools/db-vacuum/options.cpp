#include "options.hpp"

#include "common/cli.hpp"

#include "common/error.hpp"

#include <array>

namespace db_vacuum {
namespace {

using common::Error;
using common::Exit;

constexpr std::array<std::string_view, 2> formats{"json", "text"};
constexpr common::SharedOptionSet shared_set{.database = true, .evidence = false};

cxxopts::Options make_cli()
{
    cxxopts::Options cli("db-vacuum",
                         "Keep a SQLite database compact and sound. With no action, report its "
                         "status and change nothing.");
    cli.custom_help("[ACTION] [OPTIONS]");
    auto action = cli.add_options("Actions");
    action("migrate", "switch auto_vacuum to INCREMENTAL with one full VACUUM, then verify");
    action("incremental", "free PAGES pages with incremental_vacuum (default: all free pages)",
           cxxopts::value<std::int64_t>()->implicit_value("0"), "PAGES");
    action("full", "rebuild the whole file with VACUUM");
    action("auto", "the timer's policy: migrate if needed, incremental vacuum above the "
                   "threshold, checkpoint, optimize");
    action("checkpoint", "copy the WAL back into the database and truncate it");
    action("check", "quick_check, or integrity_check with --check=full; exit 65 unless ok",
           cxxopts::value<std::string>()->implicit_value("quick"), "full");
    auto policy = cli.add_options("Policy");
    policy("backup", "before rebuilding, copy the database to PATH with VACUUM INTO",
           cxxopts::value<std::string>(), "PATH");
    policy("threshold-pages", "--auto vacuums when free pages exceed N ... (default 256)",
           cxxopts::value<std::int64_t>(), "N");
    policy("threshold-fraction", "... plus F times the page count (default 0.10)",
           cxxopts::value<double>(), "F");
    policy("no-record", "do not add a maintenance_runs row");
    common::add_shared_options(cli, shared_set,
                               "output: json or text (default: text on a terminal, else json)");
    return cli;
}

}  // namespace

std::string help_text()
{
    return make_cli().help({"Actions", "Policy", "Common"});
}

std::string_view action_name(Action action)
{
    switch (action) {
    case Action::status: return "status";
    case Action::migrate: return "migrate";
    case Action::incremental: return "incremental";
    case Action::full: return "full";
    case Action::automatic: return "auto";
    case Action::checkpoint: return "checkpoint";
    case Action::check: return "check";
    }
    return "?";
}

Options parse_options(std::span<char*> args, const common::EnvLookup& env, bool stdout_is_terminal)
{
    auto cli = make_cli();
    const auto result = common::parse_arguments(cli, args);

    Options options;
    options.shared = common::resolve_shared_options(result, env, shared_set, formats,
                                                    stdout_is_terminal ? "text" : "json");
    if (options.shared.help || options.shared.version) return options;

    int actions = 0;
    for (const auto& [flag, action] : std::array{
             std::pair{"migrate", Action::migrate}, std::pair{"incremental", Action::incremental},
             std::pair{"full", Action::full}, std::pair{"auto", Action::automatic},
             std::pair{"checkpoint", Action::checkpoint}, std::pair{"check", Action::check}}) {
        if (result.count(flag) == 0) continue;
        options.action = action;
        ++actions;
    }
    if (actions > 1) throw Error(Exit::usage, "choose one action at a time");

    if (auto pages = common::flag<std::int64_t>(result, "incremental")) {
        if (*pages < 0) throw Error(Exit::usage, "--incremental: PAGES must not be negative");
        options.incremental_pages = *pages;
    }
    if (auto kind = common::flag<std::string>(result, "check")) {
        if (*kind == "full")
            options.check = CheckKind::full;
        else if (*kind != "quick")
            throw Error(Exit::usage, "--check: expected 'full' or nothing, got '{}'", *kind);
    }

    const auto& config = options.shared.config;
    const bool rebuilds = options.action == Action::migrate || options.action == Action::full ||
                          options.action == Action::automatic;
    if (auto backup = common::flag<std::string>(result, "backup")) {
        if (!rebuilds) throw Error(Exit::usage, "--backup goes with --migrate, --full or --auto");
        if (backup->empty()) throw Error(Exit::usage, "--backup needs a path");
        options.backup = *backup;
    } else if (auto configured = config.text("db-vacuum", "backup"); configured && rebuilds) {
        if (configured->empty())
            throw Error(Exit::config, "{}: db-vacuum.backup needs a path", config.source());
        options.backup = *configured;
    }
    options.threshold_pages =
        common::bounded_setting<std::int64_t>(result, "threshold-pages", config, "db-vacuum",
                                              "threshold_pages", options.threshold_pages, 0);
    options.threshold_fraction =
        common::bounded_setting<double>(result, "threshold-fraction", config, "db-vacuum",
                                        "threshold_fraction", options.threshold_fraction, 0.0, 1.0);
    options.record = result.count("no-record") == 0;
    return options;
}

}  // namespace db_vacuum
