#include "options.hpp"

#include "common/cli.hpp"
#include "common/error.hpp"
#include "common/spec_id.hpp"

#include <algorithm>
#include <array>
#include <system_error>

namespace evidence_prune {
namespace {

using common::Error;
using common::Exit;

constexpr std::array<std::string_view, 2> formats{"json", "text"};
constexpr common::SharedOptionSet shared_set{.database = true, .evidence = true};
constexpr std::string_view section = "evidence-prune";

cxxopts::Options make_cli()
{
    cxxopts::Options cli("evidence-prune",
                         "Enforce the retention policy on the evidence tree and on old database "
                         "rows: archive, verify, purge, exempt active specs, watch size limits.");
    cli.custom_help("[ACTION] [OPTIONS]");
    auto action = cli.add_options("Actions");
    action("dry-run", "report exactly what a run would do and change nothing");
    action("check", "change nothing; print the sizes and exit 2 when a hard limit is passed");
    action("plan", "change nothing; write the actions to FILE (- for stdout) for --apply",
           cxxopts::value<std::string>(), "FILE");
    action("apply", "carry out a plan, skipping every file changed since it was made",
           cxxopts::value<std::string>(), "FILE");
    action("restore", "put an archive's files back where they were, never overwriting one",
           cxxopts::value<std::string>(), "ARCHIVE");
    action("force-unverified",
           "with --restore: restore an archive that carries no checksum list (one "
           "evidence-prune did not make)");
    action("explain", "print each decision and its reason on stderr");
    auto policy = cli.add_options("Policy");
    policy("archive-after", "archive files older than AGE (default 30d)",
           cxxopts::value<std::string>(), "AGE");
    policy("purge-after", "purge files and archives whose evidence is older than AGE (default 90d)",
           cxxopts::value<std::string>(), "AGE");
    policy("purge-grace",
           "purge an archive no sooner than AGE after it was made; files past the purge age are "
           "archived first (default 7d)",
           cxxopts::value<std::string>(), "AGE");
    policy("active-window", "a spec with a file changed within AGE is active (default 7d)",
           cxxopts::value<std::string>(), "AGE");
    policy("stale-after",
           "an agent row not completed and spawned within AGE keeps its spec active, whoever "
           "wrote it (default 24h)",
           cxxopts::value<std::string>(), "AGE");
    policy("rows-of-others",
           "also delete old agent_executions rows that another writer made (rows without a "
           "batch_id); by default only the toolkit's own rows are deleted");
    policy("warn-mb", "warn when a spec passes N MiB (default 45)", cxxopts::value<double>(), "N");
    policy("limit-mb", "hard limit per spec, in MiB (default 50)", cxxopts::value<double>(), "N");
    policy("total-limit-mb", "hard limit for the whole tree, in MiB (default 500)",
           cxxopts::value<double>(), "N");
    policy("protect", "never touch SPEC (repeatable)", cxxopts::value<std::vector<std::string>>(),
           "SPEC");
    common::add_shared_options(cli, shared_set,
                               "output: json (JSON Lines) or text (default: text on a terminal, "
                               "else json)");
    return cli;
}

std::chrono::seconds age_setting(const cxxopts::ParseResult& result, const std::string& flag,
                                 const common::Config& config, std::string_view key,
                                 std::chrono::seconds fallback)
{
    if (auto given = common::flag<std::string>(result, flag)) return parse_age(*given, "--" + flag);
    if (auto days = config.get<double>(section, key)) {
        if (*days < 0 || *days > 36500)
            throw Error(Exit::config, "{}: {}.{} must be between 0 and 36500 days, not {}",
                        config.source(), section, key, *days);
        return std::chrono::seconds(static_cast<std::int64_t>(*days * 86400));
    }
    return fallback;
}

std::uint64_t size_setting(const cxxopts::ParseResult& result, const std::string& flag,
                           const common::Config& config, std::string_view key,
                           std::uint64_t fallback)
{
    const double mib = common::bounded_setting<double>(result, flag, config, section, key,
                                                       static_cast<double>(fallback) / (1 << 20),
                                                       0.0, 1024.0 * 1024.0 * 1024.0);
    return static_cast<std::uint64_t>(mib * (1 << 20));
}

}  // namespace

std::string help_text()
{
    return make_cli().help({"Actions", "Policy", "Common"});
}

std::string_view mode_name(Mode mode)
{
    switch (mode) {
    case Mode::run: return "run";
    case Mode::dry_run: return "dry-run";
    case Mode::check: return "check";
    case Mode::plan: return "plan";
    case Mode::apply: return "apply";
    case Mode::restore: return "restore";
    }
    return "?";
}

namespace {

// The arguments with the repeatable options taken out: --protect's values are joined into one
// --protect=A,B argument; --evidence's are taken out whole (a path may hold a comma).
struct Repeatable {
    std::vector<std::string> kept;
    std::vector<std::string> evidence;
};

Repeatable take_repeatable(std::span<char*> args)
{
    std::vector<std::string> kept;
    std::vector<std::string> specs;
    std::vector<std::string> evidence;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (arg == "--") {
            for (; i < args.size(); ++i)
                kept.emplace_back(args[i]);
            break;
        }
        if (arg == "--protect" && i + 1 < args.size())
            specs.emplace_back(args[++i]);
        else if (arg.starts_with("--protect="))
            specs.emplace_back(arg.substr(10));
        else if (arg == "--evidence" && i + 1 < args.size())
            evidence.emplace_back(args[++i]);
        else if (arg.starts_with("--evidence="))
            evidence.emplace_back(arg.substr(11));
        else
            kept.emplace_back(arg);
    }
    if (!specs.empty()) {
        std::string joined = "--protect=";
        for (const auto& spec : specs)
            joined += (joined.back() == '=' ? "" : ",") + spec;
        kept.push_back(std::move(joined));
    }
    // The first goes through as the shared --evidence, so that no default is looked for.
    if (!evidence.empty()) kept.push_back("--evidence=" + evidence.front());
    return {std::move(kept), std::move(evidence)};
}

// Flags, then environment, then the tool's list, then the common root (or the default).
void resolve_roots(Options& options, const std::vector<std::string>& flags,
                   const common::EnvLookup& env)
{
    const auto& config = options.shared.config;
    const auto listed = config.texts(section, "evidence");
    std::vector<std::string> named = flags;
    if (named.empty() && !env("SPEC_HYGIENE_EVIDENCE") && listed) named = *listed;
    options.evidence_required = !named.empty() || env("SPEC_HYGIENE_EVIDENCE").has_value() ||
                                config.text("common", "evidence").has_value();
    for (const auto& root : named) {
        // Named twice, pruned once.
        std::filesystem::path path = std::filesystem::path(root).lexically_normal();
        if (std::find(options.roots.begin(), options.roots.end(), path) == options.roots.end())
            options.roots.push_back(std::move(path));
    }
    if (options.roots.empty()) options.roots.push_back(options.shared.evidence);
    options.shared.evidence = options.roots.front();
    const bool one_root_modes =
        options.mode == Mode::plan || options.mode == Mode::apply || options.mode == Mode::restore;
    if (one_root_modes && options.roots.size() > 1)
        throw Error(Exit::usage, "--{} works on one evidence root; name it with --evidence",
                    mode_name(options.mode));
}

// The mode (--dry-run, --check, --plan, --apply, --restore) and the file each one needs.
void resolve_mode(const cxxopts::ParseResult& result, Options& options)
{
    int modes = 0;
    for (const auto& [flag, mode] :
         std::array{std::pair{"check", Mode::check}, std::pair{"plan", Mode::plan},
                    std::pair{"apply", Mode::apply}, std::pair{"restore", Mode::restore}}) {
        if (result.count(flag) == 0) continue;
        options.mode = mode;
        ++modes;
    }
    const bool dry_run = result.count("dry-run") > 0;
    if (modes > 1 || (dry_run && modes == 1 && options.mode != Mode::plan))
        throw Error(Exit::usage, "choose one of --dry-run, --check, --plan, --apply, --restore");
    if (dry_run && modes == 0) options.mode = Mode::dry_run;
    if (auto file = common::flag<std::string>(result, "plan")) options.plan_file = *file;
    if (auto file = common::flag<std::string>(result, "apply")) options.plan_file = *file;
    if (auto archive = common::flag<std::string>(result, "restore"))
        options.restore_archive = *archive;
    if ((options.mode == Mode::plan || options.mode == Mode::apply) && options.plan_file.empty())
        throw Error(Exit::usage, "--{} needs a file name", mode_name(options.mode));
    if (options.mode == Mode::restore && options.restore_archive.empty())
        throw Error(Exit::usage, "--restore needs an archive");
}

// The ages and sizes, each from its flag, else the configuration, else the default.
Policy resolve_policy(const cxxopts::ParseResult& result, const common::Config& config)
{
    Policy policy;
    policy.archive_after =
        age_setting(result, "archive-after", config, "archive_days", policy.archive_after);
    policy.purge_after =
        age_setting(result, "purge-after", config, "purge_days", policy.purge_after);
    policy.purge_grace =
        age_setting(result, "purge-grace", config, "purge_grace_days", policy.purge_grace);
    policy.active_window =
        age_setting(result, "active-window", config, "active_days", policy.active_window);
    policy.stale_after =
        age_setting(result, "stale-after", config, "stale_days", policy.stale_after);
    const bool ages_from_flags =
        result.count("archive-after") > 0 || result.count("purge-after") > 0;
    if (policy.purge_after < policy.archive_after)
        throw Error(ages_from_flags ? Exit::usage : Exit::config,
                    "the purge age ({}) is shorter than the archive age ({})",
                    age_text(policy.purge_after), age_text(policy.archive_after));
    policy.warn_bytes = size_setting(result, "warn-mb", config, "warn_spec_mb", policy.warn_bytes);
    policy.limit_bytes =
        size_setting(result, "limit-mb", config, "limit_spec_mb", policy.limit_bytes);
    policy.total_limit_bytes =
        size_setting(result, "total-limit-mb", config, "limit_total_mb", policy.total_limit_bytes);
    return policy;
}

}  // namespace

Options parse_options(std::span<char*> args, const common::EnvLookup& env, bool stdout_is_terminal,
                      bool stderr_is_terminal)
{
    auto cli = make_cli();
    auto repeatable = take_repeatable(args);
    std::vector<char*> argv;
    for (auto& arg : repeatable.kept)
        argv.push_back(arg.data());
    const auto result = common::parse_arguments(cli, argv);

    Options options;
    options.shared = common::resolve_shared_options(result, env, shared_set, formats,
                                                    stdout_is_terminal ? "text" : "json");
    if (options.shared.help || options.shared.version) return options;
    const auto& config = options.shared.config;

    resolve_mode(result, options);
    options.explain = result.count("explain") > 0 || options.shared.verbose;
    options.force_unverified = result.count("force-unverified") > 0;
    if (options.force_unverified && options.mode != Mode::restore)
        throw Error(Exit::usage, "--force-unverified goes with --restore");
    options.rows_of_others = result.count("rows-of-others") > 0 ||
                             config.get<bool>(section, "rows_of_others").value_or(false);

    options.policy = resolve_policy(result, config);

    if (auto specs = common::flag<std::vector<std::string>>(result, "protect")) {
        for (const auto& spec : *specs)
            if (!common::is_spec_folder(spec))
                throw Error(Exit::usage,
                            "--protect: '{}' is not a spec folder name (a SPEC-ID such as "
                            "SPEC-KIT-933, optionally with a lower-case slug)",
                            spec);
        options.protect = *specs;
    }

    // The database is optional: used when named, or when the default one exists.
    options.database_required = result.count("db") > 0 || env("SPEC_HYGIENE_DB").has_value() ||
                                config.text("common", "db").has_value();
    std::error_code ec;
    if (options.database_required || std::filesystem::exists(options.shared.database, ec))
        options.database = options.shared.database;
    resolve_roots(options, repeatable.evidence, env);
    options.progress = stderr_is_terminal && !options.shared.quiet;
    return options;
}

}  // namespace evidence_prune
