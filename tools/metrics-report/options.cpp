#include "options.hpp"

#include "common/cli.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"

#include <array>
#include <charconv>

namespace metrics_report {
namespace {

using common::Error;
using common::Exit;

constexpr std::array<std::string_view, 5> formats{"table", "json", "prometheus", "markdown", "csv"};
constexpr common::SharedOptionSet shared_set{.database = true, .evidence = true};

cxxopts::Options make_cli()
{
    cxxopts::Options cli("metrics-report",
                         "Statistics of recorded agent spawns and batches, the speed-up of "
                         "parallel over sequential batches, and the database's health.");
    cli.custom_help("[OPTIONS]");
    auto select = cli.add_options("Selection");
    select("from", "read spawn-agents' JSON Lines from FILE ('-': stdin) instead of the database",
           cxxopts::value<std::string>(), "FILE");
    select("window", "the newest N agent spawns, or 'all' (default 1000)",
           cxxopts::value<std::string>(), "N");
    select("batch-window", "the newest N batches, or 'all' (default 100; 'all' with --window all)",
           cxxopts::value<std::string>(), "N");
    select("since",
           "only records since TIME: a duration back from now (30m, 12h, 7d) or a UTC "
           "time (2026-11-27T10:00:00Z)",
           cxxopts::value<std::string>(), "TIME");
    select("spec", "only the spawns and batches of this spec", cxxopts::value<std::string>(),
           "SPEC-ID");
    select("stage", "only the spawns and batches of this stage", cxxopts::value<std::string>(),
           "STAGE");
    select("agent", "only this agent's spawns (and batches that ran it)",
           cxxopts::value<std::string>(), "NAME");
    auto report = cli.add_options("Report");
    report("compare", "compare parallel with sequential batches: speed-up of the median batch "
                      "wall time, bootstrap interval, Mann-Whitney p-value");
    report("output", "write the report to FILE atomically instead of stdout",
           cxxopts::value<std::string>(), "FILE");
    auto gates = cli.add_options("Gates");
    gates("max-p95-ms", "exit 1 when the p95 spawn latency exceeds MS", cxxopts::value<double>(),
          "MS");
    gates("min-success-rate", "exit 1 when the success rate is below R (0 to 1)",
          cxxopts::value<double>(), "R");
    gates("require-samples", "a gate with too few samples fails instead of passing");
    common::add_shared_options(cli, shared_set,
                               "table, json, prometheus, markdown or csv (default: table on a "
                               "terminal, else json)");
    return cli;
}

// "all" or a positive count, from the flag or else the configuration.
std::optional<std::int64_t> window_value(const std::string& flag_name, const std::string& text)
{
    if (text == "all") return std::nullopt;
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 1)
        throw Error(Exit::usage, "--{}: expected a positive number or 'all', not '{}'", flag_name,
                    text);
    return value;
}

std::optional<std::string> non_empty(const cxxopts::ParseResult& result, const std::string& name)
{
    auto value = common::flag<std::string>(result, name);
    if (value && value->empty()) throw Error(Exit::usage, "--{} needs a value", name);
    return value;
}

std::uint64_t megabytes(const common::Config& config, std::string_view key, double fallback)
{
    const auto value = config.number("evidence-prune", key).value_or(fallback);
    if (!(value > 0))
        throw Error(Exit::config, "{}: evidence-prune.{} must be greater than 0, not {}",
                    config.source(), key, value);
    return static_cast<std::uint64_t>(value * 1024 * 1024);
}

}  // namespace

std::string help_text()
{
    return make_cli().help({"Selection", "Report", "Gates", "Common"});
}

namespace {

// Which spawns and batches the report covers: --window, --batch-window (or the
// configuration's), --since, --spec, --stage and --agent.
Selection parse_selection(const cxxopts::ParseResult& result, const common::Config& config,
                          common::TimePoint now)
{
    Selection selection;
    if (auto window = common::flag<std::string>(result, "window")) {
        selection.spawns = window_value("window", *window);
        if (!selection.spawns) selection.batches = std::nullopt;
    } else if (auto configured = config.integer("metrics-report", "window")) {
        if (*configured < 1)
            throw Error(Exit::config, "{}: metrics-report.window must be at least 1, not {}",
                        config.source(), *configured);
        selection.spawns = *configured;
    }
    if (auto window = common::flag<std::string>(result, "batch-window")) {
        selection.batches = window_value("batch-window", *window);
    } else if (auto configured = config.integer("metrics-report", "batch_window");
               configured && selection.spawns) {
        if (*configured < 1)
            throw Error(Exit::config, "{}: metrics-report.batch_window must be at least 1, not {}",
                        config.source(), *configured);
        selection.batches = *configured;
    }
    if (auto since = non_empty(result, "since")) {
        try {
            selection.since = common::parse_since(*since, now);
        } catch (const Error& error) {
            throw Error(Exit::usage, "--since: {}", error.what());
        }
    }
    selection.spec = non_empty(result, "spec");
    selection.stage = non_empty(result, "stage");
    selection.agent = non_empty(result, "agent");

    return selection;
}

// A gate's threshold from its flag (64 when out of range) or the configuration (78).
std::optional<double> gate_value(const cxxopts::ParseResult& result, const common::Config& config,
                                 const std::string& flag_name, std::string_view key, double max)
{
    std::optional<double> value = common::flag<double>(result, flag_name);
    bool from_flag = value.has_value();
    if (!value) value = config.number("metrics-report", key);
    if (value && (!(*value >= 0) || *value > max)) {
        if (from_flag)
            throw Error(Exit::usage, "--{} must be between 0 and {}, not {}", flag_name, max,
                        *value);
        throw Error(Exit::config, "{}: metrics-report.{} must be between 0 and {}, not {}",
                    config.source(), key, max, *value);
    }
    return value;
}

}  // namespace

Options parse_options(std::span<char*> args, const common::EnvLookup& env, common::TimePoint now,
                      bool stdout_is_terminal)
{
    auto cli = make_cli();
    const auto result = common::parse_arguments(cli, args);

    Options options;
    options.shared = common::resolve_shared_options(result, env, shared_set, formats,
                                                    stdout_is_terminal ? "table" : "json");
    if (options.shared.help || options.shared.version) return options;
    const auto& config = options.shared.config;

    if (auto from = non_empty(result, "from")) {
        options.source = Source::stream;
        options.from = *from;
    }

    options.selection = parse_selection(result, config, now);

    options.compare = result.count("compare") > 0;
    if (auto output = non_empty(result, "output")) options.output = *output;

    options.max_p95_ms = gate_value(result, config, "max-p95-ms", "max_p95_ms", 1e12);
    options.min_success_rate =
        gate_value(result, config, "min-success-rate", "min_success_rate", 1.0);
    options.require_samples = result.count("require-samples") > 0;

    options.limits.warn_spec = megabytes(config, "warn_spec_mb", 45);
    options.limits.limit_spec = megabytes(config, "limit_spec_mb", 50);
    options.limits.limit_total = megabytes(config, "limit_total_mb", 500);
    return options;
}

}  // namespace metrics_report
