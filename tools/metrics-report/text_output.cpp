// The report for people (aligned tables, Markdown) and for spreadsheets (CSV).
#include "render.hpp"

#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/files.hpp"
#include "common/output.hpp"

#include <fmt/format.h>

#include <functional>

namespace metrics_report {
namespace {

using common::stats::Summary;

// The label reports give the statistics of all agents together.
constexpr std::string_view all_agents = "(all)";

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
    table.footer_rows = 1;  // the overall row, set apart from an agent named "(all)"
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
    table.footer_rows = 1;  // the overall row, set apart from an agent named "(all)"
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
    table.footer_rows = 1;  // the overall row, set apart from an agent named "(all)"
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

}  // namespace

std::string render_sections(const Report& report, bool markdown)
{
    const auto table = [&](const common::Table& t) {
        return markdown ? common::render_markdown(t) : common::render_text(t);
    };
    const auto heading = [&](std::string_view title) {
        return markdown ? fmt::format("\n## {}\n\n", title) : fmt::format("\n{}\n", title);
    };
    std::string out = markdown ? "# metrics-report\n\n" : "";
    const auto text = [&](std::string_view line) {
        return markdown ? common::markdown_text(line) : common::printable(line);
    };
    out += fmt::format("{} and {} from {} ({})\n",
                       count_of(report.overall.count, "agent spawn", "agent spawns"),
                       count_of(report.batches.count, "finished batch", "finished batches"),
                       text(report.origin), text(window_text(report)));
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
            out += (markdown ? "    " : "") + common::printable(line) + '\n';
    }
    return out;
}

std::string render_csv(const Report& report)
{
    common::Table table;
    // "scope" tells the overall row (agent empty) from an agent whatever its name.
    table.header = {"scope", "agent", "spawns", "successes", "success_rate"};
    for (const auto outcome : failure_classes)
        table.header.emplace_back(outcome_name(outcome));
    table.header.insert(table.header.end(), {"running", "unknown"});
    for (const auto* quantity : {"spawn_latency_ms", "run_time_ms"})
        for (const auto* stat : {"samples", "min", "mean", "p50", "p95", "p99", "max"})
            table.header.push_back(fmt::format("{}_{}", quantity, stat));
    table.header.insert(table.header.end(), {"cpu_time_ms_mean", "cpu_time_ms_max",
                                             "max_rss_kb_mean", "max_rss_kb_max"});
    table.numeric.assign(table.header.size(), true);
    table.numeric[0] = table.numeric[1] = false;
    const auto csv_number = [](auto value, double scale) {
        return value ? fmt::format("{}", static_cast<double>(*value) / scale) : std::string();
    };
    each_row(report, [&](std::string_view name, const AgentStats& stats) {
        const bool overall = &stats == &report.overall;
        std::vector<std::string> row{
            overall ? "overall" : "agent", overall ? std::string() : std::string(name),
            number(stats.count), number(stats.successes()),
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

}  // namespace metrics_report
