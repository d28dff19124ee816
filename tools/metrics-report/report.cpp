#include "report.hpp"

#include "render.hpp"

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

}  // namespace

std::string_view evidence_state(std::uint64_t bytes, const EvidenceLimits& limits)
{
    if (bytes > limits.limit_spec) return "over";
    if (bytes > limits.warn_spec) return "warn";
    return "ok";
}

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
    sum += static_cast<long double>(value);
}

std::optional<double> Accumulator::mean() const
{
    if (count == 0) return std::nullopt;
    return static_cast<double>(sum / static_cast<long double>(count));
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
