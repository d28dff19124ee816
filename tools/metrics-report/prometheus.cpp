// The report as Prometheus text for node_exporter's textfile collector.
#include "render.hpp"

#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/output.hpp"

#include <fmt/format.h>

#include <chrono>
#include <limits>

namespace metrics_report {
namespace {

using common::stats::Summary;

using LabelList = std::vector<std::pair<std::string, std::string>>;

LabelList with(LabelList labels, std::string name, std::string value)
{
    labels.emplace_back(std::move(name), std::move(value));
    return labels;
}

// A summary family's quantiles that exist for one label set. No _sum or _count: over a sliding
// window they go down, and Prometheus would read every decrease as a counter reset.
void summary_samples(common::PrometheusText& text, std::string_view name, const LabelList& labels,
                     const Summary& summary, double per_second)
{
    for (const auto& [quantile, value] :
         {std::pair{"0.5", summary.p50}, std::pair{"0.95", summary.p95},
          std::pair{"0.99", summary.p99}})
        if (value)
            text.sample(name, with(labels, "quantile", quantile),
                        static_cast<double>(*value) / per_second);
}

// One all-time counter family from the database, overall (`name`, summed over labels) or per
// label (`agent_name`, label `label`). Every outcome of `outcomes` gets a sample, zero or not,
// so that rate() has a start; outcomes another writer stored are added as they are.
void total_family(common::PrometheusText& text, const std::map<Totals::Key, std::int64_t>& values,
                  const std::vector<std::string>& outcomes, const std::string& outcome_label,
                  const std::string& name, const std::string& help)
{
    std::map<std::string, std::map<std::string, std::int64_t>> by_label;
    std::map<std::string, std::int64_t> overall;
    for (const auto& outcome : outcomes)
        overall[outcome] = 0;
    for (const auto& [key, value] : values) {
        auto& row = by_label[key.first];
        for (const auto& outcome : outcomes)
            row.emplace(outcome, 0);
        row[key.second] += value;
        overall[key.second] += value;
    }
    text.family(name, "counter", help + " of all agents, since the database was made.");
    for (const auto& [outcome, value] : overall)
        text.sample(name, {{outcome_label, outcome}}, static_cast<double>(value));
    const auto agent_name =
        "spec_hygiene_agent_" + name.substr(std::string("spec_hygiene_").size());
    text.family(agent_name, "counter", help + " per agent name, since the database was made.");
    for (const auto& [label, row] : by_label)
        for (const auto& [outcome, value] : row)
            text.sample(agent_name, {{"agent", label}, {outcome_label, outcome}},
                        static_cast<double>(value));
}

// The all-time counters: they never decrease, whatever the window and the purge.
void total_families(common::PrometheusText& text, const Totals& totals)
{
    total_family(text, totals.spawns, {"failed", "spawned"}, "result", "spec_hygiene_spawns_total",
                 "Spawn attempts by result (the child exec'd, or not)");
    std::vector<std::string> finished;
    for (const auto outcome : failure_classes)
        finished.emplace_back(outcome_name(outcome));
    finished.emplace_back(outcome_name(Outcome::success));
    total_family(text, totals.runs, finished, "outcome", "spec_hygiene_runs_total",
                 "Finished agent runs by outcome");
    text.family("spec_hygiene_batches_total", "counter",
                "Batches recorded by mode, since the database was made.");
    std::map<std::string, std::int64_t> modes{{"parallel", 0}, {"sequential", 0}};
    for (const auto& [key, value] : totals.batches)
        modes[key.first] += value;
    for (const auto& [mode, value] : modes)
        text.sample("spec_hygiene_batches_total", {{"mode", mode}}, static_cast<double>(value));
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

    text.family(prefix + "window_runs", "gauge",
                "Agent spawns in the report window by outcome" + scope + ".");
    for (const auto& [labels, stats] : rows)
        for (std::size_t i = 0; i < outcome_count; ++i)
            text.sample(prefix + "window_runs",
                        with(labels, "outcome", std::string(outcome_name(static_cast<Outcome>(i)))),
                        static_cast<double>(stats->outcomes[i]));
    text.family(prefix + "success_ratio", "gauge",
                "Successful runs divided by finished runs" + scope + " (NaN when none finished).");
    for (const auto& [labels, stats] : rows)
        text.sample(prefix + "success_ratio", labels,
                    stats->success_rate().value_or(std::numeric_limits<double>::quiet_NaN()));
    text.family(
        prefix + "spawn_latency_seconds", "summary",
        "Spawn latency of successful spawns" + scope +
            " in the report window, nearest-rank quantiles (0.95 and 0.99 from 20 samples on).");
    for (const auto& [labels, stats] : rows)
        summary_samples(text, prefix + "spawn_latency_seconds", labels, stats->spawn_latency_us,
                        1e6);
    text.family(prefix + "run_time_seconds", "summary",
                "Run time of started agents" + scope +
                    " in the report window, nearest-rank quantiles.");
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

// A stored "YYYY-MM-DD HH:MM:SS" UTC time as Unix seconds; nullopt for a time another
// program wrote in some other form, whose sample is left out.
std::optional<double> unix_seconds(const std::string& sql_time)
{
    try {
        return static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                       common::parse_time(sql_time).time_since_epoch())
                                       .count());
    } catch (const common::Error&) {
        return std::nullopt;
    }
}

// The database file, the maintenance runs and the evidence tree.
void health_families(common::PrometheusText& text, const Health& health)
{
    text.family("spec_hygiene_database_size_bytes", "gauge", "Database file plus its WAL.");
    text.sample("spec_hygiene_database_size_bytes", {}, static_cast<double>(health.file_bytes));
    text.family("spec_hygiene_database_freelist_bytes", "gauge",
                "Bytes of free pages in the database.");
    text.sample("spec_hygiene_database_freelist_bytes", {},
                static_cast<double>(health.freelist_bytes));
    text.family("spec_hygiene_database_auto_vacuum_info", "gauge",
                "The database's auto_vacuum mode, as a label.");
    text.sample("spec_hygiene_database_auto_vacuum_info", {{"mode", health.auto_vacuum}}, 1);
    text.family("spec_hygiene_last_maintenance_timestamp_seconds", "gauge",
                "When a maintenance tool last finished a run that changed something (Unix time).");
    for (const auto& [tool, run] : {std::pair{"db-vacuum", &health.last_vacuum},
                                    std::pair{"evidence-prune", &health.last_prune}})
        if (const auto seconds = *run ? unix_seconds((*run)->finished_at) : std::nullopt)
            text.sample("spec_hygiene_last_maintenance_timestamp_seconds",
                        {{"tool", tool}, {"outcome", (*run)->outcome}}, *seconds);
    text.family("spec_hygiene_last_success_timestamp_seconds", "gauge",
                "When a tool last finished a run with outcome ok (Unix time); no sample for a "
                "tool that never did.");
    for (const auto& [tool, finished_at] : health.last_success)
        if (const auto seconds = unix_seconds(finished_at))
            text.sample("spec_hygiene_last_success_timestamp_seconds", {{"tool", tool}}, *seconds);
    if (health.evidence_exists) {
        text.family("spec_hygiene_evidence_bytes", "gauge", "Evidence bytes per spec.");
        for (const auto& [spec, bytes] : health.evidence_bytes)
            text.sample("spec_hygiene_evidence_bytes", {{"spec", spec}},
                        static_cast<double>(bytes));
        text.family("spec_hygiene_evidence_total_bytes", "gauge", "Evidence bytes of all specs.");
        text.sample("spec_hygiene_evidence_total_bytes", {},
                    static_cast<double>(health.evidence_total));
        text.family("spec_hygiene_evidence_limit_bytes", "gauge",
                    "Evidence limits: per spec (warn and limit) and in total.");
        text.sample("spec_hygiene_evidence_limit_bytes", {{"scope", "spec"}, {"level", "warn"}},
                    static_cast<double>(health.limits.warn_spec));
        text.sample("spec_hygiene_evidence_limit_bytes", {{"scope", "spec"}, {"level", "limit"}},
                    static_cast<double>(health.limits.limit_spec));
        text.sample("spec_hygiene_evidence_limit_bytes", {{"scope", "total"}, {"level", "limit"}},
                    static_cast<double>(health.limits.limit_total));
    }
}

}  // namespace

std::string render_prometheus(const Report& report)
{
    common::PrometheusText text;
    if (report.totals) total_families(text, *report.totals);
    agent_families(text, report, false);
    agent_families(text, report, true);

    const auto& batches = report.batches;
    text.family("spec_hygiene_window_batches", "gauge", "Batches in the report window by mode.");
    text.sample("spec_hygiene_window_batches", {{"mode", "parallel"}},
                static_cast<double>(batches.parallel));
    text.sample("spec_hygiene_window_batches", {{"mode", "sequential"}},
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

    if (report.health) health_families(text, *report.health);
    return text.text();
}

}  // namespace metrics_report
