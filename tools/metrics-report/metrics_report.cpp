// metrics-report's run: the builder that adds records up, the gates, and run().
#include "metrics_report.hpp"

#include "common/atomic_file.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/jsonl.hpp"
#include "common/output.hpp"
#include "common/schema.hpp"
#include "common/tree.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <istream>
#include <vector>

namespace metrics_report {
namespace {

using common::Error;
using common::Exit;
namespace fs = std::filesystem;

void write_report(const Options& options, const std::string& text, std::ostream& out)
{
    if (!options.output) {
        out << text;
        return;
    }
    // Readable by node_exporter's textfile collector, which usually runs as another user.
    common::write_file_atomically(*options.output, text, 0644);
}

// Whether `a` and `b` name one file: the same inode, or (one not there yet) the same path
// once symlinks and ".." are resolved.
bool same_file(const fs::path& a, const fs::path& b)
{
    std::error_code ec;
    if (fs::equivalent(a, b, ec)) return true;
    std::error_code ec_a;
    std::error_code ec_b;
    const auto resolved_a = fs::weakly_canonical(fs::absolute(a, ec_a), ec_a);
    const auto resolved_b = fs::weakly_canonical(fs::absolute(b, ec_b), ec_b);
    return !ec_a && !ec_b && resolved_a == resolved_b;
}

// The report never replaces what it reads: "--output" naming the database once overwrote it
// with the report. Its -wal, -shm and -journal count as the database.
void refuse_output_over_input(const Options& options)
{
    if (!options.output) return;
    std::vector<fs::path> inputs;
    if (options.source == Source::stream) {
        if (options.from != "-") inputs.push_back(options.from);
    } else {
        for (const char* suffix : {"", "-wal", "-shm", "-journal"})
            inputs.emplace_back(options.shared.database.string() + suffix);
    }
    for (const auto& input : inputs)
        if (same_file(*options.output, input))
            throw Error(Exit::usage, "--output {} is {}, which the report reads; not replacing it",
                        options.output->string(),
                        options.source == Source::stream ? "the --from stream" : "the database");
}

std::string samples_note(std::size_t samples, std::string_view what)
{
    return fmt::format("only {} {} in the report, fewer than the {} a reliable figure needs",
                       samples, what, common::stats::min_tail_samples);
}

}  // namespace

std::optional<std::string> implausible(std::string_view field, std::int64_t value)
{
    constexpr std::int64_t year_us = 366LL * 24 * 3600 * 1000000;
    const auto bound = field.ends_with("_us")   ? year_us
                       : field.ends_with("_ms") ? year_us / 1000
                       : field.ends_with("_kb") ? std::int64_t{1} << 34
                                                : std::int64_t{1} << 40;
    if (value < 0) return fmt::format("{} {} is negative", field, value);
    if (value > bound)
        return fmt::format("{} {} is beyond any plausible value (at most {})", field, value, bound);
    return std::nullopt;
}

void ReportBuilder::add(const SpawnRecord& spawn)
{
    auto it = m_agents.find(spawn.agent);
    if (it == m_agents.end()) it = m_agents.emplace(spawn.agent, AgentSamples{}).first;
    auto& samples = it->second;
    auto& stats = samples.stats;
    ++stats.count;
    ++stats.outcomes[static_cast<std::size_t>(spawn.outcome)];
    if (spawn.spawned && spawn.spawn_latency_us) samples.latency_us.add(*spawn.spawn_latency_us);
    if (spawn.spawned && spawn.run_time_ms) samples.run_time_ms.add(*spawn.run_time_ms);
    if (spawn.spawned && spawn.cpu_time_us) stats.cpu_time_us.add(*spawn.cpu_time_us);
    if (spawn.spawned && spawn.max_rss_kb) stats.max_rss_kb.add(*spawn.max_rss_kb);
}

void ReportBuilder::add(const BatchRecord& batch)
{
    ++m_batches.count;
    if (batch.mode == "parallel") ++m_batches.parallel;
    if (batch.mode == "sequential") ++m_batches.sequential;
    m_batches.agents.add(batch.agents);
    if (batch.successes) m_batches.successes.add(*batch.successes);
    if (batch.spawn_wall_us) m_batches.spawn_wall_us.add(*batch.spawn_wall_us);
    if (batch.batch_wall_us) {
        m_batches.batch_wall_us.add(*batch.batch_wall_us);
        const auto wall = static_cast<double>(*batch.batch_wall_us);
        if (!m_compare) return;
        if (batch.mode == "parallel") m_parallel_wall_us.push_back(wall);
        if (batch.mode == "sequential") m_sequential_wall_us.push_back(wall);
    }
}

namespace {

// Parallel against sequential batches by their whole-batch wall times: the speed-up of the
// medians, its bootstrap interval and a Mann-Whitney test, or why there is none.
Comparison compare_walls(const std::vector<double>& sequential, const std::vector<double>& parallel)
{
    Comparison comparison;
    comparison.parallel = parallel.size();
    comparison.sequential = sequential.size();
    comparison.parallel_median_us = common::stats::median(parallel);
    comparison.sequential_median_us = common::stats::median(sequential);
    if (!comparison.enough()) {
        comparison.message = fmt::format(
            "too few batches to compare: {} parallel and {} sequential finished batches in the "
            "report, at least {} of each are needed",
            comparison.parallel, comparison.sequential, Comparison::min_batches);
    } else if (!(*comparison.parallel_median_us > 0)) {
        comparison.message = "cannot compare: the median parallel batch took no time";
    } else {
        comparison.speedup = *comparison.sequential_median_us / *comparison.parallel_median_us;
        comparison.interval = common::stats::bootstrap_median_ratio(
            sequential, parallel, Comparison::bootstrap_iterations, 0.95,
            Comparison::bootstrap_seed);
        comparison.test = common::stats::mann_whitney_u(sequential, parallel);
        const bool significant = comparison.test->p_value < 0.05;
        comparison.message = fmt::format(
            "speed-up {:.2f}x (95 % CI {:.2f}x to {:.2f}x): the median parallel batch took "
            "{:.1f} ms, the median sequential one {:.1f} ms; the difference is {}significant "
            "(two-sided Mann-Whitney p = {:.3g})",
            *comparison.speedup, comparison.interval->lower, comparison.interval->upper,
            *comparison.parallel_median_us / 1000, *comparison.sequential_median_us / 1000,
            significant ? "" : "not ", comparison.test->p_value);
    }
    return comparison;
}

}  // namespace

void ReportBuilder::finish(Report& report, bool compare)
{
    std::vector<const Samples*> all_latency;
    std::vector<const Samples*> all_run_time;
    auto& overall = report.overall;
    for (auto& [name, samples] : m_agents) {
        auto& stats = samples.stats;
        samples.latency_us.sort();
        samples.run_time_ms.sort();
        stats.spawn_latency_us = samples.latency_us.summary();
        stats.run_time_ms = samples.run_time_ms.summary();
        // The overall percentiles are found across the agents' samples, never merged.
        all_latency.push_back(&samples.latency_us);
        all_run_time.push_back(&samples.run_time_ms);
        overall.count += stats.count;
        for (std::size_t i = 0; i < outcome_count; ++i)
            overall.outcomes[i] += stats.outcomes[i];
        for (auto [from, into] : {std::pair{&stats.cpu_time_us, &overall.cpu_time_us},
                                  std::pair{&stats.max_rss_kb, &overall.max_rss_kb}}) {
            if (from->count == 0) continue;
            if (into->count == 0 || from->min < into->min) into->min = from->min;
            if (into->count == 0 || from->max > into->max) into->max = from->max;
            into->count += from->count;
            into->sum += from->sum;
        }
        report.agents.emplace(name, stats);
    }
    overall.spawn_latency_us = summary_of(all_latency);
    overall.run_time_ms = summary_of(all_run_time);
    report.batches = m_batches;
    if (!compare) return;

    report.comparison = compare_walls(m_sequential_wall_us, m_parallel_wall_us);
}

std::vector<GateResult> check_gates(const Report& report, const Options& options)
{
    std::vector<GateResult> results;
    const auto& overall = report.overall;
    if (options.max_p95_ms) {
        const auto& latency = overall.spawn_latency_us;
        GateResult gate;
        if (!latency.p95) {
            gate.broken = options.require_samples;
            gate.message =
                fmt::format("--max-p95-ms: {}; {}", samples_note(latency.count, "spawn latencies"),
                            gate.broken ? "failing (--require-samples)" : "not checked");
        } else if (const double p95_ms = static_cast<double>(*latency.p95) / 1000.0;
                   p95_ms > *options.max_p95_ms) {
            gate.broken = true;
            gate.message = fmt::format("--max-p95-ms: p95 spawn latency {} ms exceeds {} ms",
                                       p95_ms, *options.max_p95_ms);
        }
        results.push_back(gate);
    }
    if (options.min_success_rate) {
        GateResult gate;
        const auto finished = static_cast<std::size_t>(overall.finished());
        if (finished < common::stats::min_tail_samples) {
            gate.broken = options.require_samples;
            gate.message =
                fmt::format("--min-success-rate: {}; {}", samples_note(finished, "finished runs"),
                            gate.broken ? "failing (--require-samples)" : "not checked");
        } else if (const double rate = *overall.success_rate(); rate < *options.min_success_rate) {
            gate.broken = true;
            gate.message = fmt::format(
                "--min-success-rate: success rate {:.4f} ({} of {} finished runs) is below {}",
                rate, overall.successes(), finished, *options.min_success_rate);
        }
        results.push_back(gate);
    }
    return results;
}

namespace {

// Reads spawn-agents' JSON Lines from stdin ("-") or a file.
void read_stream_source(const Options& options, std::istream& in, Report& report,
                        ReportBuilder& builder)
{
    if (options.from == "-") {
        report.origin = "stdin";
        read_stream(in, report.origin, options.selection, builder);
    } else {
        report.origin = options.from.string();
        std::error_code ec;
        if (!fs::exists(options.from, ec))
            throw Error(Exit::no_input, "{}: no such file", report.origin);
        if (fs::is_directory(options.from, ec))
            throw Error(Exit::data, "{}: is a folder, not a JSON Lines file", report.origin);
        const common::UniqueFd fd(::open(options.from.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw common::system_error(errno, "cannot open " + report.origin);
        common::FdInputBuffer buffer(fd.get(), report.origin);
        std::istream file(&buffer);
        read_stream(file, report.origin, options.selection, builder);
    }
}

// Reads the database read-only: the spawns, the health and the all-time totals.
void read_database_source(const Options& options, std::ostream& err, Report& report,
                          ReportBuilder& builder)
{
    const auto db = common::Database::open(
        options.shared.database,
        {.mode = common::OpenMode::read_only, .busy_timeout_ms = options.shared.busy_timeout_ms});
    common::schema::ensure_supported(db);
    if (options.shared.verbose && db.is_immutable())
        err << fmt::format("metrics-report: {}: no -shm file can be made beside it (a folder "
                           "not writable, or a read-only mount): read as an immutable file\n",
                           common::printable(options.shared.database.string()));
    report.origin = options.shared.database.string();
    read_database(db, options.selection, builder);
    report.health = read_health(db, options.shared.evidence, options.limits);
    // This report is metrics-report's success: the daily job's file carries it, so that a
    // file that stops being rewritten ages in the stale-success alert like the others.
    report.health->last_success["metrics-report"] = common::sql_timestamp(common::system_clock()());
    report.totals = read_totals(db);
}

}  // namespace

int run(const Options& options, std::istream& in, std::ostream& out, std::ostream& err)
{
    refuse_output_over_input(options);
    const common::Stopwatch stopwatch;
    Report report;
    report.source = options.source;
    report.selection = options.selection;
    ReportBuilder builder(options.compare);
    if (options.source == Source::stream)
        read_stream_source(options, in, report, builder);
    else
        read_database_source(options, err, report, builder);
    builder.finish(report, options.compare);
    if (options.shared.verbose)
        err << fmt::format("metrics-report: {} agent spawns and {} batches from {}, read and "
                           "summarized in {:.1f} ms\n",
                           report.overall.count, report.batches.count,
                           common::printable(report.origin), stopwatch.elapsed_ms());

    write_report(options, render(report, options.shared.format), out);

    const auto& selection = options.selection;
    if (!options.shared.quiet && report.overall.count == 0)
        err << fmt::format("metrics-report: {}: {}\n", common::printable(report.origin),
                           selection.since || selection.spec || selection.stage || selection.agent
                               ? "no recorded agent spawns match the selection; counts are zero"
                               : "no agent spawns recorded yet; counts are zero");
    int status = 0;
    for (const auto& gate : check_gates(report, options)) {
        if (gate.message.empty()) continue;
        if (gate.broken || !options.shared.quiet)
            err << "metrics-report: " << common::printable(gate.message) << '\n';
        if (gate.broken) status = 1;
    }
    return status;
}

}  // namespace metrics_report
