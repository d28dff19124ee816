#include "report.hpp"

#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/output.hpp"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <functional>
#include <limits>

namespace metrics_report {
namespace {

using common::Json;
using common::stats::Summary;

constexpr std::array<std::string_view, outcome_count> outcome_names{
    "success",   "spawn_failed", "exit",    "timeout", "signal",
    "cancelled", "lost",         "running", "unknown"};

// The label reports give the statistics of all agents together.
constexpr std::string_view all_agents = "(all)";

template <typename T> Json or_null(const std::optional<T>& value)
{
    return value ? Json(*value) : Json(nullptr);
}

// `value` divided by `scale` (1000 turns µs into ms), or null.
Json scaled(const std::optional<std::int64_t>& value, double scale)
{
    return value ? Json(static_cast<double>(*value) / scale) : Json(nullptr);
}

Json scaled(const std::optional<double>& value, double scale)
{
    return value ? Json(*value / scale) : Json(nullptr);
}

Json summary_json(const Summary& summary, double scale)
{
    Json json;
    json["samples"] = summary.count;
    json["min"] = scaled(summary.min, scale);
    json["mean"] = scaled(summary.mean, scale);
    json["max"] = scaled(summary.max, scale);
    json["p50"] = scaled(summary.p50, scale);
    json["p95"] = scaled(summary.p95, scale);
    json["p99"] = scaled(summary.p99, scale);
    return json;
}

Json accumulator_json(const Accumulator& values, double scale, bool with_min)
{
    Json json;
    json["samples"] = values.count;
    json["mean"] = scaled(values.mean(), scale);
    const auto present = [&](std::int64_t value) {
        return values.count > 0 ? Json(static_cast<double>(value) / scale) : Json(nullptr);
    };
    if (with_min) json["min"] = present(values.min);
    json["max"] = present(values.max);
    return json;
}

Json window_json(const Selection& selection)
{
    Json json;
    json["spawns"] = or_null(selection.spawns);
    json["batches"] = or_null(selection.batches);
    json["since"] = selection.since ? Json(common::iso8601(*selection.since)) : Json(nullptr);
    json["spec"] = or_null(selection.spec);
    json["stage"] = or_null(selection.stage);
    json["agent"] = or_null(selection.agent);
    return json;
}

Json batches_json(const BatchStats& batches)
{
    Json json;
    json["count"] = batches.count;
    json["parallel"] = batches.parallel;
    json["sequential"] = batches.sequential;
    json["agents"] = accumulator_json(batches.agents, 1, true);
    json["successes"] = accumulator_json(batches.successes, 1, true);
    json["spawn_wall_ms"] = accumulator_json(batches.spawn_wall_us, 1000, true);
    json["batch_wall_ms"] = accumulator_json(batches.batch_wall_us, 1000, true);
    return json;
}

Json comparison_json(const Comparison& comparison)
{
    Json json;
    json["parallel_batches"] = comparison.parallel;
    json["sequential_batches"] = comparison.sequential;
    json["min_batches"] = Comparison::min_batches;
    json["enough_batches"] = comparison.enough();
    json["parallel_median_ms"] = scaled(comparison.parallel_median_us, 1000);
    json["sequential_median_ms"] = scaled(comparison.sequential_median_us, 1000);
    json["speedup"] = or_null(comparison.speedup);
    json["ci95"] = comparison.interval
                       ? Json::array({comparison.interval->lower, comparison.interval->upper})
                       : Json(nullptr);
    json["bootstrap"] = {{"iterations", Comparison::bootstrap_iterations},
                         {"seed", Comparison::bootstrap_seed}};
    if (comparison.test)
        json["mann_whitney"] = {{"u", comparison.test->u},
                                {"z", comparison.test->z},
                                {"p_value", comparison.test->p_value}};
    else
        json["mann_whitney"] = nullptr;
    json["message"] = comparison.message;
    return json;
}

Json maintenance_json(const std::optional<MaintenanceRun>& run)
{
    if (!run) return nullptr;
    return {{"finished_at", run->finished_at}, {"outcome", run->outcome}};
}

// "ok", "warn" or "over" for a spec's evidence bytes.
std::string_view evidence_state(std::uint64_t bytes, const EvidenceLimits& limits)
{
    if (bytes > limits.limit_spec) return "over";
    if (bytes > limits.warn_spec) return "warn";
    return "ok";
}

Json health_json(const Health& health)
{
    Json json;
    json["database"] = {{"path", health.database},
                        {"size_bytes", health.file_bytes},
                        {"freelist_bytes", health.freelist_bytes},
                        {"page_size", health.page_size},
                        {"auto_vacuum", health.auto_vacuum},
                        {"schema_version", or_null(health.schema_version)}};
    json["last_db_vacuum"] = maintenance_json(health.last_vacuum);
    json["last_evidence_prune"] = maintenance_json(health.last_prune);
    Json evidence;
    evidence["root"] = health.evidence_root;
    evidence["exists"] = health.evidence_exists;
    evidence["total_bytes"] = health.evidence_total;
    evidence["limit_total_bytes"] = health.limits.limit_total;
    evidence["warn_spec_bytes"] = health.limits.warn_spec;
    evidence["limit_spec_bytes"] = health.limits.limit_spec;
    evidence["over_total_limit"] = health.evidence_total > health.limits.limit_total;
    evidence["specs"] = Json::array();
    for (const auto& [spec, bytes] : health.evidence_bytes)
        evidence["specs"].push_back(
            {{"spec", spec}, {"bytes", bytes}, {"state", evidence_state(bytes, health.limits)}});
    json["evidence"] = evidence;
    return json;
}

// ---- text for people ----

std::string number(std::int64_t value)
{
    return std::to_string(value);
}

// At most three decimals, without trailing zeros: 43.339, 415, 27.5.
std::string decimal(double value)
{
    auto text = fmt::format("{:.3f}", value);
    text.erase(text.find_last_not_of('0') + 1);
    if (text.back() == '.') text.pop_back();
    return text == "-0" ? "0" : text;
}

std::string ms(const std::optional<std::int64_t>& value, double scale)
{
    return value ? decimal(static_cast<double>(*value) / scale) : "-";
}

std::string ms(const std::optional<double>& value, double scale)
{
    return value ? decimal(*value / scale) : "-";
}

std::string count_of(std::int64_t count, std::string_view one, std::string_view many)
{
    return fmt::format("{} {}", count, count == 1 ? one : many);
}

std::string rate(const std::optional<double>& value)
{
    return value ? fmt::format("{:.4f}", *value) : "-";
}

// One row per agent, then one for all of them.
void each_row(const Report& report,
              const std::function<void(std::string_view, const AgentStats&)>& row)
{
    for (const auto& [name, stats] : report.agents)
        row(name, stats);
    row(all_agents, report.overall);
}

common::Table spawns_table(const Report& report)
{
    common::Table table;
    table.header = {"agent", "spawns", "successes", "rate"};
    for (const auto outcome : failure_classes)
        table.header.emplace_back(outcome_name(outcome));
    table.header.emplace_back("running");
    table.numeric.assign(table.header.size(), true);
    table.numeric[0] = false;
    each_row(report, [&](std::string_view name, const AgentStats& stats) {
        std::vector<std::string> row{std::string(name), number(stats.count),
                                     number(stats.successes()), rate(stats.success_rate())};
        for (const auto outcome : failure_classes)
            row.push_back(number(stats.of(outcome)));
        row.push_back(number(stats.of(Outcome::running)));
        table.add_row(std::move(row));
    });
    return table;
}

common::Table summary_table(const Report& report,
                            const std::function<const Summary&(const AgentStats&)>& pick,
                            double scale)
{
    common::Table table;
    table.header = {"agent", "samples", "min", "mean", "p50", "p95", "p99", "max"};
    table.numeric.assign(table.header.size(), true);
    table.numeric[0] = false;
    each_row(report, [&](std::string_view name, const AgentStats& stats) {
        const auto& summary = pick(stats);
        table.add_row({std::string(name), number(static_cast<std::int64_t>(summary.count)),
                       ms(summary.min, scale), ms(summary.mean, scale), ms(summary.p50, scale),
                       ms(summary.p95, scale), ms(summary.p99, scale), ms(summary.max, scale)});
    });
    return table;
}

std::optional<std::int64_t> max_of(const Accumulator& values)
{
    return values.count > 0 ? std::optional(values.max) : std::nullopt;
}

std::optional<std::int64_t> min_of(const Accumulator& values)
{
    return values.count > 0 ? std::optional(values.min) : std::nullopt;
}

common::Table resources_table(const Report& report)
{
    common::Table table;
    table.header = {"agent", "samples", "cpu mean ms", "cpu max ms", "rss mean KiB", "rss max KiB"};
    table.numeric.assign(table.header.size(), true);
    table.numeric[0] = false;
    each_row(report, [&](std::string_view name, const AgentStats& stats) {
        table.add_row({std::string(name), number(stats.cpu_time_us.count),
                       ms(stats.cpu_time_us.mean(), 1000), ms(max_of(stats.cpu_time_us), 1000),
                       ms(stats.max_rss_kb.mean(), 1), ms(max_of(stats.max_rss_kb), 1)});
    });
    return table;
}

common::Table batches_table(const Report& report)
{
    common::Table table;
    table.header = {"per batch", "samples", "mean", "min", "max"};
    table.numeric = {false, true, true, true, true};
    const auto row = [&](std::string_view what, const Accumulator& values, double scale) {
        table.add_row({std::string(what), number(values.count), ms(values.mean(), scale),
                       ms(min_of(values), scale), ms(max_of(values), scale)});
    };
    const auto& batches = report.batches;
    row("agents", batches.agents, 1);
    row("successes", batches.successes, 1);
    row("spawn wall ms", batches.spawn_wall_us, 1000);
    row("batch wall ms", batches.batch_wall_us, 1000);
    return table;
}

std::string window_text(const Report& report)
{
    const auto& selection = report.selection;
    const auto count = [](const std::optional<std::int64_t>& window, std::string_view what) {
        return window ? fmt::format("newest {} {}", *window, what) : fmt::format("all {}", what);
    };
    std::string text =
        count(selection.spawns, "spawns") + ", " + count(selection.batches, "batches");
    if (selection.since) text += ", since " + common::iso8601(*selection.since);
    if (selection.spec) text += ", spec " + *selection.spec;
    if (selection.stage) text += ", stage " + *selection.stage;
    if (selection.agent) text += ", agent " + *selection.agent;
    return text;
}

std::string maintenance_text(const std::optional<MaintenanceRun>& run)
{
    return run ? fmt::format("{} UTC ({})", run->finished_at, run->outcome) : "never";
}

std::vector<std::string> health_lines(const Health& health)
{
    std::vector<std::string> lines;
    lines.push_back(fmt::format("database      {}: {}, {} free, auto_vacuum {}", health.database,
                                common::human_bytes(health.file_bytes),
                                common::human_bytes(health.freelist_bytes), health.auto_vacuum));
    lines.push_back("last vacuum   " + maintenance_text(health.last_vacuum));
    lines.push_back("last prune    " + maintenance_text(health.last_prune));
    if (!health.evidence_exists) {
        lines.push_back(fmt::format("evidence      {}: not there", health.evidence_root));
        return lines;
    }
    lines.push_back(fmt::format(
        "evidence      {}: {} of {}{}", health.evidence_root,
        common::human_bytes(health.evidence_total), common::human_bytes(health.limits.limit_total),
        health.evidence_total > health.limits.limit_total ? " (over the limit)" : ""));
    for (const auto& [spec, bytes] : health.evidence_bytes) {
        const auto state = evidence_state(bytes, health.limits);
        if (state == "ok") continue;
        lines.push_back(fmt::format("  {}  {} ({} the {} limit)", spec, common::human_bytes(bytes),
                                    state == "over" ? "over" : "near",
                                    common::human_bytes(health.limits.limit_spec)));
    }
    return lines;
}

// Text and Markdown share their layout: a heading, then a table or lines per section.
std::string render_sections(const Report& report, bool markdown)
{
    const auto table = [&](const common::Table& t) {
        return markdown ? common::render_markdown(t) : common::render_text(t);
    };
    const auto heading = [&](std::string_view title) {
        return markdown ? fmt::format("\n## {}\n\n", title) : fmt::format("\n{}\n", title);
    };
    std::string out = markdown ? "# metrics-report\n\n" : "";
    out += fmt::format("{} and {} from {} ({})\n",
                       count_of(report.overall.count, "agent spawn", "agent spawns"),
                       count_of(report.batches.count, "finished batch", "finished batches"),
                       report.origin, window_text(report));
    out += heading("Spawns") + table(spawns_table(report));
    out += heading("Spawn latency, ms (successful spawns; nearest-rank percentiles)") +
           table(summary_table(
               report,
               [](const AgentStats& stats) -> const Summary& { return stats.spawn_latency_us; },
               1000));
    out += heading("Run time, ms") +
           table(summary_table(
               report, [](const AgentStats& stats) -> const Summary& { return stats.run_time_ms; },
               1));
    out += heading("CPU time and peak memory") + table(resources_table(report));
    out += heading(fmt::format("Batches ({} parallel, {} sequential)", report.batches.parallel,
                               report.batches.sequential)) +
           table(batches_table(report));
    if (report.comparison)
        out += heading("Parallel against sequential") + report.comparison->message + '\n';
    if (report.health) {
        out += heading("Health");
        const auto lines = health_lines(*report.health);
        for (const auto& line : lines)
            out += markdown ? "    " + line + '\n' : line + '\n';
    }
    return out;
}

std::string render_csv(const Report& report)
{
    common::Table table;
    table.header = {"agent", "spawns", "successes", "success_rate"};
    for (const auto outcome : failure_classes)
        table.header.emplace_back(outcome_name(outcome));
    table.header.insert(table.header.end(), {"running", "unknown"});
    for (const auto* quantity : {"spawn_latency_ms", "run_time_ms"})
        for (const auto* stat : {"samples", "min", "mean", "p50", "p95", "p99", "max"})
            table.header.push_back(fmt::format("{}_{}", quantity, stat));
    table.header.insert(table.header.end(), {"cpu_time_ms_mean", "cpu_time_ms_max",
                                             "max_rss_kb_mean", "max_rss_kb_max"});
    const auto csv_number = [](auto value, double scale) {
        return value ? fmt::format("{}", static_cast<double>(*value) / scale) : std::string();
    };
    each_row(report, [&](std::string_view name, const AgentStats& stats) {
        std::vector<std::string> row{
            std::string(name), number(stats.count), number(stats.successes()),
            stats.success_rate() ? fmt::format("{}", *stats.success_rate()) : std::string()};
        for (const auto outcome : failure_classes)
            row.push_back(number(stats.of(outcome)));
        row.push_back(number(stats.of(Outcome::running)));
        row.push_back(number(stats.of(Outcome::unknown)));
        for (const auto& [summary, scale] :
             {std::pair{&stats.spawn_latency_us, 1000.0}, std::pair{&stats.run_time_ms, 1.0}}) {
            row.push_back(number(static_cast<std::int64_t>(summary->count)));
            row.push_back(csv_number(summary->min, scale));
            row.push_back(csv_number(summary->mean, scale));
            row.push_back(csv_number(summary->p50, scale));
            row.push_back(csv_number(summary->p95, scale));
            row.push_back(csv_number(summary->p99, scale));
            row.push_back(csv_number(summary->max, scale));
        }
        row.push_back(csv_number(stats.cpu_time_us.mean(), 1000));
        row.push_back(csv_number(max_of(stats.cpu_time_us), 1000));
        row.push_back(csv_number(stats.max_rss_kb.mean(), 1));
        row.push_back(csv_number(max_of(stats.max_rss_kb), 1));
        table.add_row(std::move(row));
    });
    return common::render_csv(table);
}

// ---- Prometheus ----

using LabelList = std::vector<std::pair<std::string, std::string>>;

LabelList with(LabelList labels, std::string name, std::string value)
{
    labels.emplace_back(std::move(name), std::move(value));
    return labels;
}

// A summary family's samples for one label set: quantiles that exist, then _sum and _count.
void summary_samples(common::PrometheusText& text, std::string_view name, const LabelList& labels,
                     const Summary& summary, double per_second)
{
    for (const auto& [quantile, value] :
         {std::pair{"0.5", summary.p50}, std::pair{"0.95", summary.p95},
          std::pair{"0.99", summary.p99}})
        if (value)
            text.sample(name, with(labels, "quantile", quantile),
                        static_cast<double>(*value) / per_second);
    text.sample(fmt::format("{}_sum", name), labels, static_cast<double>(summary.sum) / per_second);
    text.sample(fmt::format("{}_count", name), labels, static_cast<double>(summary.count));
}

// The per-agent ("agent_" families, label agent) and overall families of AgentStats.
void agent_families(common::PrometheusText& text, const Report& report, bool per_agent)
{
    const std::string prefix = per_agent ? "spec_hygiene_agent_" : "spec_hygiene_";
    const std::string scope = per_agent ? " per agent name" : " of all agents";
    std::vector<std::pair<LabelList, const AgentStats*>> rows;
    if (per_agent)
        for (const auto& [name, stats] : report.agents)
            rows.push_back({{{"agent", name}}, &stats});
    else
        rows.push_back({{}, &report.overall});

    text.family(prefix + "runs_total", "counter",
                "Agent spawns in the report window by outcome" + scope + ".");
    for (const auto& [labels, stats] : rows)
        for (std::size_t i = 0; i < outcome_count; ++i)
            text.sample(prefix + "runs_total",
                        with(labels, "outcome", std::string(outcome_names[i])),
                        static_cast<double>(stats->outcomes[i]));
    text.family(prefix + "success_ratio", "gauge",
                "Successful runs divided by finished runs" + scope + " (NaN when none finished).");
    for (const auto& [labels, stats] : rows)
        text.sample(prefix + "success_ratio", labels,
                    stats->success_rate().value_or(std::numeric_limits<double>::quiet_NaN()));
    text.family(prefix + "spawn_latency_seconds", "summary",
                "Spawn latency of successful spawns" + scope +
                    ", nearest-rank quantiles (0.95 and 0.99 from 20 samples on).");
    for (const auto& [labels, stats] : rows)
        summary_samples(text, prefix + "spawn_latency_seconds", labels, stats->spawn_latency_us,
                        1e6);
    text.family(prefix + "run_time_seconds", "summary",
                "Run time of started agents" + scope + ", nearest-rank quantiles.");
    for (const auto& [labels, stats] : rows)
        summary_samples(text, prefix + "run_time_seconds", labels, stats->run_time_ms, 1e3);
    text.family(prefix + "cpu_seconds", "gauge",
                "CPU time (user plus system) of finished agents" + scope + ", mean and max.");
    for (const auto& [labels, stats] : rows)
        if (stats->cpu_time_us.count > 0) {
            text.sample(prefix + "cpu_seconds", with(labels, "stat", "mean"),
                        *stats->cpu_time_us.mean() / 1e6);
            text.sample(prefix + "cpu_seconds", with(labels, "stat", "max"),
                        static_cast<double>(stats->cpu_time_us.max) / 1e6);
        }
    text.family(prefix + "max_rss_bytes", "gauge",
                "Peak resident memory of finished agents" + scope + ", mean and max.");
    for (const auto& [labels, stats] : rows)
        if (stats->max_rss_kb.count > 0) {
            text.sample(prefix + "max_rss_bytes", with(labels, "stat", "mean"),
                        *stats->max_rss_kb.mean() * 1024);
            text.sample(prefix + "max_rss_bytes", with(labels, "stat", "max"),
                        static_cast<double>(stats->max_rss_kb.max) * 1024);
        }
}

void stat_samples(common::PrometheusText& text, const std::string& name, const Accumulator& values,
                  double divisor)
{
    if (values.count == 0) return;
    text.sample(name, {{"stat", "mean"}}, *values.mean() / divisor);
    text.sample(name, {{"stat", "min"}}, static_cast<double>(values.min) / divisor);
    text.sample(name, {{"stat", "max"}}, static_cast<double>(values.max) / divisor);
}

std::string render_prometheus(const Report& report)
{
    common::PrometheusText text;
    agent_families(text, report, false);
    agent_families(text, report, true);

    const auto& batches = report.batches;
    text.family("spec_hygiene_batches_total", "counter", "Batches in the report window by mode.");
    text.sample("spec_hygiene_batches_total", {{"mode", "parallel"}},
                static_cast<double>(batches.parallel));
    text.sample("spec_hygiene_batches_total", {{"mode", "sequential"}},
                static_cast<double>(batches.sequential));
    text.family("spec_hygiene_batch_agents", "gauge", "Agents per batch: mean, min and max.");
    stat_samples(text, "spec_hygiene_batch_agents", batches.agents, 1);
    text.family("spec_hygiene_batch_successes", "gauge",
                "Successful agents per finished batch: mean, min and max.");
    stat_samples(text, "spec_hygiene_batch_successes", batches.successes, 1);
    text.family("spec_hygiene_batch_spawn_wall_seconds", "gauge",
                "Wall time of a batch's spawn phase: mean, min and max.");
    stat_samples(text, "spec_hygiene_batch_spawn_wall_seconds", batches.spawn_wall_us, 1e6);
    text.family("spec_hygiene_batch_wall_seconds", "gauge",
                "Wall time of a whole batch: mean, min and max.");
    stat_samples(text, "spec_hygiene_batch_wall_seconds", batches.batch_wall_us, 1e6);

    if (report.comparison && report.comparison->speedup) {
        const auto& comparison = *report.comparison;
        text.family("spec_hygiene_parallel_speedup_ratio", "gauge",
                    "Median sequential batch wall time divided by the median parallel one, with "
                    "the bounds of its 95 % bootstrap interval.");
        text.sample("spec_hygiene_parallel_speedup_ratio", {{"bound", "estimate"}},
                    *comparison.speedup);
        text.sample("spec_hygiene_parallel_speedup_ratio", {{"bound", "lower"}},
                    comparison.interval->lower);
        text.sample("spec_hygiene_parallel_speedup_ratio", {{"bound", "upper"}},
                    comparison.interval->upper);
        text.family(
            "spec_hygiene_parallel_speedup_p_value", "gauge",
            "Two-sided Mann-Whitney U p-value of parallel against sequential batch wall times.");
        text.sample("spec_hygiene_parallel_speedup_p_value", {}, comparison.test->p_value);
    }

    if (report.health) {
        const auto& health = *report.health;
        text.family("spec_hygiene_database_size_bytes", "gauge", "Database file plus its WAL.");
        text.sample("spec_hygiene_database_size_bytes", {}, static_cast<double>(health.file_bytes));
        text.family("spec_hygiene_database_freelist_bytes", "gauge",
                    "Bytes of free pages in the database.");
        text.sample("spec_hygiene_database_freelist_bytes", {},
                    static_cast<double>(health.freelist_bytes));
        text.family("spec_hygiene_database_auto_vacuum_info", "gauge",
                    "The database's auto_vacuum mode, as a label.");
        text.sample("spec_hygiene_database_auto_vacuum_info", {{"mode", health.auto_vacuum}}, 1);
        text.family(
            "spec_hygiene_last_maintenance_timestamp_seconds", "gauge",
            "When a maintenance tool last finished a run that changed something (Unix time).");
        for (const auto& [tool, run] : {std::pair{"db-vacuum", &health.last_vacuum},
                                        std::pair{"evidence-prune", &health.last_prune}}) {
            if (!*run) continue;
            try {
                const auto finished = common::parse_time((*run)->finished_at);
                text.sample("spec_hygiene_last_maintenance_timestamp_seconds",
                            {{"tool", tool}, {"outcome", (*run)->outcome}},
                            static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                                    finished.time_since_epoch())
                                                    .count()));
            } catch (const common::Error&) {
                // A timestamp another program wrote in some other form: leave the sample out.
            }
        }
        if (health.evidence_exists) {
            text.family("spec_hygiene_evidence_bytes", "gauge", "Evidence bytes per spec.");
            for (const auto& [spec, bytes] : health.evidence_bytes)
                text.sample("spec_hygiene_evidence_bytes", {{"spec", spec}},
                            static_cast<double>(bytes));
            text.family("spec_hygiene_evidence_total_bytes", "gauge",
                        "Evidence bytes of all specs.");
            text.sample("spec_hygiene_evidence_total_bytes", {},
                        static_cast<double>(health.evidence_total));
            text.family("spec_hygiene_evidence_limit_bytes", "gauge",
                        "Evidence limits: per spec (warn and limit) and in total.");
            text.sample("spec_hygiene_evidence_limit_bytes", {{"scope", "spec"}, {"level", "warn"}},
                        static_cast<double>(health.limits.warn_spec));
            text.sample("spec_hygiene_evidence_limit_bytes",
                        {{"scope", "spec"}, {"level", "limit"}},
                        static_cast<double>(health.limits.limit_spec));
            text.sample("spec_hygiene_evidence_limit_bytes",
                        {{"scope", "total"}, {"level", "limit"}},
                        static_cast<double>(health.limits.limit_total));
        }
    }
    return text.text();
}

}  // namespace

std::string_view outcome_name(Outcome outcome)
{
    return outcome_names[static_cast<std::size_t>(outcome)];
}

Outcome outcome_from_name(std::string_view name)
{
    for (std::size_t i = 0; i + 1 < outcome_count; ++i)
        if (outcome_names[i] == name) return static_cast<Outcome>(i);
    return Outcome::unknown;
}

void Accumulator::add(std::int64_t value)
{
    if (count == 0 || value < min) min = value;
    if (count == 0 || value > max) max = value;
    ++count;
    sum += value;
}

std::optional<double> Accumulator::mean() const
{
    if (count == 0) return std::nullopt;
    return static_cast<double>(sum) / static_cast<double>(count);
}

std::int64_t AgentStats::finished() const
{
    return count - of(Outcome::running) - of(Outcome::unknown);
}

std::optional<double> AgentStats::success_rate() const
{
    const auto done = finished();
    if (done <= 0) return std::nullopt;
    return static_cast<double>(successes()) / static_cast<double>(done);
}

Json to_json(const AgentStats& stats)
{
    Json json;
    json["count"] = stats.count;
    json["successes"] = stats.successes();
    json["success_rate"] = or_null(stats.success_rate());
    Json failures;
    for (const auto outcome : failure_classes)
        failures[std::string(outcome_name(outcome))] = stats.of(outcome);
    json["failures"] = failures;
    json["running"] = stats.of(Outcome::running);
    json["unknown"] = stats.of(Outcome::unknown);
    json["spawn_latency_ms"] = summary_json(stats.spawn_latency_us, 1000);
    json["run_time_ms"] = summary_json(stats.run_time_ms, 1);
    json["cpu_time_ms"] = accumulator_json(stats.cpu_time_us, 1000, false);
    json["max_rss_kb"] = accumulator_json(stats.max_rss_kb, 1, false);
    return json;
}

Json to_json(const Report& report)
{
    Json json;
    json["tool"] = "metrics-report";
    json["schema_version"] = output_schema_version;
    json["source"] = report.source == Source::database ? "database" : "stream";
    json["origin"] = report.origin;
    json["window"] = window_json(report.selection);
    json["percentiles"] = "nearest-rank";
    json["overall"] = to_json(report.overall);
    json["agents"] = Json::array();
    for (const auto& [name, stats] : report.agents) {
        Json agent;
        agent["agent"] = name;
        agent.update(to_json(stats));
        json["agents"].push_back(agent);
    }
    json["batches"] = batches_json(report.batches);
    json["compare"] = report.comparison ? comparison_json(*report.comparison) : Json(nullptr);
    json["health"] = report.health ? health_json(*report.health) : Json(nullptr);
    return json;
}

std::string render(const Report& report, std::string_view format)
{
    if (format == "json") return common::json_line(to_json(report));
    if (format == "table") return render_sections(report, false);
    if (format == "markdown") return render_sections(report, true);
    if (format == "csv") return render_csv(report);
    if (format == "prometheus") return render_prometheus(report);
    throw common::Error(common::Exit::software, "unknown format '{}'", format);
}

}  // namespace metrics_report
