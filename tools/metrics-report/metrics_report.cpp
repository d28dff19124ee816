#include "metrics_report.hpp"

#include "common/atomic_file.hpp"
#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/evidence_size.hpp"
#include "common/files.hpp"
#include "common/jsonl.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"
#include "common/spec_id.hpp"
#include "common/tree.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <unordered_map>

namespace metrics_report {
namespace {

using common::Error;
using common::Exit;
namespace fs = std::filesystem;

// ---- the database ----

// `expression` when `table` has `column`, else NULL: a database of an older toolkit schema
// (read-only, so never migrated here) simply has no such values.
std::string column_or_null(const std::vector<std::string>& columns, std::string_view column,
                           std::string_view expression)
{
    return std::find(columns.begin(), columns.end(), column) != columns.end()
               ? std::string(expression)
               : std::string("NULL");
}

// The filters of `selection` as SQL conditions and their parameters, in order.
struct Conditions {
    std::string sql;
    std::vector<std::string> parameters;

    void add(std::string condition, std::string parameter)
    {
        sql += " AND " + condition;
        parameters.push_back(std::move(parameter));
    }
    void bind(common::Statement& statement) const
    {
        int index = 1;
        for (const auto& parameter : parameters)
            statement.bind(index++, parameter);
    }
};

// Whether the spawn-agents process that owns a batch is gone, asked once per batch. An owner
// whose liveness cannot be told is not gone, as mark_lost_runs() has it.
class OwnerCheck {
public:
    explicit OwnerCheck(const common::Database& db)
        : m_owner(db.prepare("SELECT owner_pid, owner_start FROM spawn_batches WHERE batch_id = ?"))
    {
    }

    bool gone(std::int64_t batch)
    {
        const auto known = m_gone.find(batch);
        if (known != m_gone.end()) return known->second;
        bool gone = false;
        m_owner.bind(1, batch);
        if (m_owner.step())
            gone = common::process_liveness({static_cast<pid_t>(m_owner.column_int(0)),
                                             static_cast<std::uint64_t>(m_owner.column_int(1))}) ==
                   common::Liveness::gone;
        m_owner.reset();
        m_gone.emplace(batch, gone);
        return gone;
    }

private:
    common::Statement m_owner;
    std::unordered_map<std::int64_t, bool> m_gone;
};

void read_spawns(const common::Database& db, const Selection& selection, ReportBuilder& builder)
{
    const bool executions = db.table_exists("agent_executions");
    const auto metric_columns = db.column_names("spawn_metrics");
    const auto execution_columns =
        executions ? db.column_names("agent_executions") : std::vector<std::string>{};
    const bool joined = executions && std::find(metric_columns.begin(), metric_columns.end(),
                                                "agent_id") != metric_columns.end();

    Conditions where;
    if (selection.since) where.add("m.recorded_at >= ?", common::sql_timestamp(*selection.since));
    if (selection.spec) where.add("b.spec_id = ?", *selection.spec);
    if (selection.stage) where.add("b.stage = ?", *selection.stage);
    if (selection.agent) where.add("m.agent_name = ?", *selection.agent);
    const bool by_batch = selection.spec || selection.stage;

    const auto sql = fmt::format(
        "SELECT m.agent_name, m.success, m.spawn_latency_us, m.batch_id, {}, {}, {}, {} "
        "FROM spawn_metrics m {} {} WHERE 1 {} ORDER BY m.metric_id DESC LIMIT {}",
        joined ? "e.outcome" : "NULL", joined ? "e.run_time_ms" : "NULL",
        joined ? column_or_null(execution_columns, "cpu_time_us", "e.cpu_time_us") : "NULL",
        joined ? column_or_null(execution_columns, "max_rss_kb", "e.max_rss_kb") : "NULL",
        joined ? "LEFT JOIN agent_executions e ON e.agent_id = m.agent_id" : "",
        by_batch ? "JOIN spawn_batches b ON b.batch_id = m.batch_id" : "", where.sql,
        selection.spawns.value_or(-1));
    auto rows = db.prepare(sql);
    where.bind(rows);
    OwnerCheck owners(db);
    SpawnRecord spawn;
    while (rows.step()) {
        // Agent names repeat row after row: reuse the string when it is the same.
        if (const auto name = rows.column_text(0); name != spawn.agent) spawn.agent = name;
        spawn.spawned = rows.column_int(1) != 0;
        spawn.spawn_latency_us = rows.column_int_optional(2);
        spawn.outcome = rows.is_null(4) ? (spawn.spawned ? Outcome::unknown : Outcome::spawn_failed)
                                        : outcome_from_name(rows.column_text(4));
        if (spawn.outcome == Outcome::running && owners.gone(rows.column_int(3)))
            spawn.outcome = Outcome::lost;
        spawn.run_time_ms = rows.column_int_optional(5);
        spawn.cpu_time_us = rows.column_int_optional(6);
        spawn.max_rss_kb = rows.column_int_optional(7);
        builder.add(spawn);
    }
}

// Batches that spawn-agents finished (it reported them with a "batch" event): a batch still
// running, or left behind by a spawner that died, has no wall time to show.
void read_batches(const common::Database& db, const Selection& selection, ReportBuilder& builder)
{
    Conditions where;
    if (selection.since) where.add("b.started_at >= ?", common::sql_timestamp(*selection.since));
    if (selection.spec) where.add("b.spec_id = ?", *selection.spec);
    if (selection.stage) where.add("b.stage = ?", *selection.stage);
    if (selection.agent)
        where.add("EXISTS (SELECT 1 FROM spawn_metrics m WHERE m.batch_id = b.batch_id AND "
                  "m.agent_name = ?)",
                  *selection.agent);
    auto rows = db.prepare(
        fmt::format("SELECT b.mode, b.agent_count, b.successes, b.spawn_wall_us, b.batch_wall_us "
                    "FROM spawn_batches b WHERE b.batch_wall_us IS NOT NULL {} "
                    "ORDER BY b.batch_id DESC LIMIT {}",
                    where.sql, selection.batches.value_or(-1)));
    where.bind(rows);
    BatchRecord batch;
    while (rows.step()) {
        batch.mode = rows.column_text(0);
        batch.agents = rows.column_int(1);
        batch.successes = rows.column_int_optional(2);
        batch.spawn_wall_us = rows.column_int_optional(3);
        batch.batch_wall_us = rows.column_int_optional(4);
        builder.add(batch);
    }
}

// ---- the stream ----

// Typed access to one event's fields; errors name the line and the field.
class Event {
public:
    Event(const nlohmann::json& event, const common::JsonLinesReader& reader)
        : m_event(event), m_reader(reader)
    {
    }

    std::string text(std::string_view key) const
    {
        const auto* value = find(key);
        if (!value || !value->is_string()) fail(key, "a string");
        return value->get<std::string>();
    }
    std::optional<std::string> optional_text(std::string_view key) const
    {
        const auto* value = find(key);
        if (!value || value->is_null()) return std::nullopt;
        if (!value->is_string()) fail(key, "a string or null");
        return value->get<std::string>();
    }
    std::int64_t integer(std::string_view key) const
    {
        const auto value = optional_integer(key);
        if (!value) fail(key, "an integer");
        return *value;
    }
    std::optional<std::int64_t> optional_integer(std::string_view key) const
    {
        const auto* value = find(key);
        if (!value || value->is_null()) return std::nullopt;
        if (!value->is_number_integer() ||
            (value->is_number_unsigned() &&
             value->get<std::uint64_t>() >
                 static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
            fail(key, "an integer or null");
        return value->get<std::int64_t>();
    }
    // A "time" or "started_at" field as a point in time; nullopt when absent.
    std::optional<common::TimePoint> optional_time(std::string_view key) const
    {
        const auto value = optional_text(key);
        if (!value) return std::nullopt;
        try {
            return common::parse_time(*value);
        } catch (const Error&) {
            fail(key, "a UTC time such as 2026-11-27T10:15:00Z");
        }
    }
    [[noreturn]] void fail(std::string_view key, std::string_view expected) const
    {
        throw Error(Exit::data, "{}: \"{}\": expected {}", m_reader.where(), key, expected);
    }

private:
    const nlohmann::json* find(std::string_view key) const
    {
        const auto it = m_event.find(key);
        return it == m_event.end() ? nullptr : &*it;
    }

    const nlohmann::json& m_event;
    const common::JsonLinesReader& m_reader;
};

struct StreamSpawn {
    SpawnRecord record;
    std::int64_t batch_id = 0;
    std::string spec;
    std::string stage;
    std::optional<common::TimePoint> time;
};

struct StreamBatch {
    BatchRecord record;
    std::int64_t batch_id = 0;
    std::string spec;
    std::string stage;
    std::optional<common::TimePoint> started;
};

bool known_outcome(Outcome outcome)
{
    return outcome != Outcome::unknown;
}

bool selected(const Selection& selection, const std::optional<common::TimePoint>& time,
              const std::string& spec, const std::string& stage)
{
    if (selection.since && (!time || *time < *selection.since)) return false;
    if (selection.spec && spec != *selection.spec) return false;
    if (selection.stage && stage != *selection.stage) return false;
    return true;
}

// ---- health ----

// Adds each spec's evidence bytes under the open evidence root to `health`, measured as
// evidence-prune's gate measures them.
void add_evidence_bytes(const common::TreeRoot& root, Health& health)
{
    for (const auto& [spec, bytes] : common::measure_evidence(root)) {
        health.evidence_bytes[spec] += bytes;
        health.evidence_total += bytes;
    }
}

std::optional<MaintenanceRun> last_run(const common::Database& db, std::string_view tool)
{
    auto query = db.prepare("SELECT finished_at, outcome FROM maintenance_runs WHERE tool = ? "
                            "ORDER BY finished_at DESC, run_id DESC LIMIT 1");
    query.bind(1, tool);
    if (!query.step()) return std::nullopt;
    return MaintenanceRun{query.column_text(0), query.column_text(1)};
}

void write_report(const Options& options, const std::string& text, std::ostream& out)
{
    if (!options.output) {
        out << text;
        return;
    }
    // Readable by node_exporter's textfile collector, which usually runs as another user.
    common::write_file_atomically(*options.output, text, 0644);
}

std::string samples_note(std::size_t samples, std::string_view what)
{
    return fmt::format("only {} {} in the report, fewer than the {} a reliable figure needs",
                       samples, what, common::stats::min_tail_samples);
}

}  // namespace

void ReportBuilder::add(const SpawnRecord& spawn)
{
    auto it = m_agents.find(spawn.agent);
    if (it == m_agents.end()) it = m_agents.emplace(spawn.agent, Samples{}).first;
    auto& samples = it->second;
    auto& stats = samples.stats;
    ++stats.count;
    ++stats.outcomes[static_cast<std::size_t>(spawn.outcome)];
    if (spawn.spawned && spawn.spawn_latency_us)
        samples.latency_us.push_back(*spawn.spawn_latency_us);
    if (spawn.spawned && spawn.run_time_ms) samples.run_time_ms.push_back(*spawn.run_time_ms);
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
        if (batch.mode == "parallel") m_parallel_wall_us.push_back(wall);
        if (batch.mode == "sequential") m_sequential_wall_us.push_back(wall);
    }
}

void ReportBuilder::finish(Report& report, bool compare)
{
    std::vector<std::int64_t> all_latency;
    std::vector<std::int64_t> all_run_time;
    auto& overall = report.overall;
    for (auto& [name, samples] : m_agents) {
        auto& stats = samples.stats;
        stats.spawn_latency_us = common::stats::summarize(samples.latency_us);
        stats.run_time_ms = common::stats::summarize(samples.run_time_ms);
        // Both are sorted now: merging keeps the overall samples sorted without a new sort.
        for (auto [from, into] : {std::pair{&samples.latency_us, &all_latency},
                                  std::pair{&samples.run_time_ms, &all_run_time}}) {
            const auto middle = static_cast<std::ptrdiff_t>(into->size());
            into->insert(into->end(), from->begin(), from->end());
            std::inplace_merge(into->begin(), into->begin() + middle, into->end());
            std::vector<std::int64_t>().swap(*from);
        }
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
    overall.spawn_latency_us = common::stats::summarize(all_latency);
    overall.run_time_ms = common::stats::summarize(all_run_time);
    report.batches = m_batches;
    if (!compare) return;

    Comparison comparison;
    comparison.parallel = m_parallel_wall_us.size();
    comparison.sequential = m_sequential_wall_us.size();
    comparison.parallel_median_us = common::stats::median(m_parallel_wall_us);
    comparison.sequential_median_us = common::stats::median(m_sequential_wall_us);
    if (!comparison.enough()) {
        comparison.message = fmt::format(
            "too few batches to compare: {} parallel and {} sequential finished batches in the "
            "report, at least {} of each are needed",
            comparison.parallel, comparison.sequential, Comparison::min_batches);
    } else if (!(*comparison.parallel_median_us > 0)) {
        comparison.message = "cannot compare: the median parallel batch took no time";
    } else {
        comparison.speedup = *comparison.sequential_median_us / *comparison.parallel_median_us;
        comparison.interval = common::stats::bootstrap_interval(
            m_sequential_wall_us, m_parallel_wall_us,
            [](std::span<const double> sequential, std::span<const double> parallel) {
                return *common::stats::median(sequential) / *common::stats::median(parallel);
            },
            Comparison::bootstrap_iterations, 0.95, Comparison::bootstrap_seed);
        comparison.test = common::stats::mann_whitney_u(m_sequential_wall_us, m_parallel_wall_us);
        const bool significant = comparison.test->p_value < 0.05;
        comparison.message = fmt::format(
            "speed-up {:.2f}x (95 % CI {:.2f}x to {:.2f}x): the median parallel batch took "
            "{:.1f} ms, the median sequential one {:.1f} ms; the difference is {}significant "
            "(two-sided Mann-Whitney p = {:.3g})",
            *comparison.speedup, comparison.interval->lower, comparison.interval->upper,
            *comparison.parallel_median_us / 1000, *comparison.sequential_median_us / 1000,
            significant ? "" : "not ", comparison.test->p_value);
    }
    report.comparison = comparison;
}

void read_database(const common::Database& db, const Selection& selection, ReportBuilder& builder)
{
    if (db.table_exists("spawn_metrics")) read_spawns(db, selection, builder);
    if (db.table_exists("spawn_batches")) read_batches(db, selection, builder);
}

void read_stream(std::istream& in, const std::string& source, const Selection& selection,
                 ReportBuilder& builder)
{
    common::JsonLinesReader reader(in, source);
    std::vector<StreamSpawn> spawns;
    std::unordered_map<std::string, std::size_t> by_agent_id;
    std::vector<StreamBatch> batches;
    while (const auto line = reader.next()) {
        const Event event(*line, reader);
        const auto kind = event.text("event");
        if (kind == "spawned") {
            StreamSpawn spawn;
            const auto agent_id = event.text("agent_id");
            spawn.record.agent = event.text("agent");
            // Null when spawn-agents could not record the batch: it is still in the stream.
            spawn.batch_id = event.optional_integer("batch_id").value_or(-1);
            spawn.spec = event.text("spec_id");
            spawn.stage = event.text("stage");
            spawn.time = event.optional_time("time");
            const auto outcome = event.text("outcome");
            spawn.record.outcome = outcome_from_name(outcome);
            if (spawn.record.outcome != Outcome::running &&
                spawn.record.outcome != Outcome::spawn_failed)
                event.fail("outcome", "\"running\" or \"spawn_failed\"");
            spawn.record.spawned = spawn.record.outcome == Outcome::running;
            spawn.record.spawn_latency_us = event.optional_integer("spawn_latency_us");
            by_agent_id[agent_id] = spawns.size();
            spawns.push_back(std::move(spawn));
        } else if (kind == "exited") {
            const auto found = by_agent_id.find(event.text("agent_id"));
            // An exit whose spawn is not in the stream (a cut stream) has nothing to add to.
            if (found == by_agent_id.end()) continue;
            auto& record = spawns[found->second].record;
            record.outcome = outcome_from_name(event.text("outcome"));
            if (!known_outcome(record.outcome) || record.outcome == Outcome::running)
                event.fail("outcome", "success, exit, timeout, signal, cancelled or lost");
            record.run_time_ms = event.optional_integer("run_time_ms");
            record.cpu_time_us = event.optional_integer("cpu_time_us");
            record.max_rss_kb = event.optional_integer("max_rss_kb");
        } else if (kind == "batch") {
            StreamBatch batch;
            batch.batch_id = event.optional_integer("batch_id").value_or(-1);
            batch.spec = event.text("spec_id");
            batch.stage = event.text("stage");
            batch.started = event.optional_time("started_at");
            batch.record.mode = event.text("mode");
            if (batch.record.mode != "parallel" && batch.record.mode != "sequential")
                event.fail("mode", "\"parallel\" or \"sequential\"");
            batch.record.agents = event.integer("agents");
            batch.record.successes = event.optional_integer("successes");
            batch.record.spawn_wall_us = event.optional_integer("spawn_wall_us");
            batch.record.batch_wall_us = event.optional_integer("batch_wall_us");
            batches.push_back(std::move(batch));
        }
        // Other events are for other readers: a newer spawn-agents may add some.
    }

    std::set<std::int64_t> agent_batches;
    std::vector<const StreamSpawn*> picked;
    for (auto& spawn : spawns) {
        // The stream has ended, so its writer has: an agent that never exited was lost.
        if (spawn.record.outcome == Outcome::running) spawn.record.outcome = Outcome::lost;
        if (selection.agent && spawn.record.agent != *selection.agent) continue;
        if (selection.agent) agent_batches.insert(spawn.batch_id);
        if (selected(selection, spawn.time, spawn.spec, spawn.stage)) picked.push_back(&spawn);
    }
    const auto newest = [](std::size_t size, const std::optional<std::int64_t>& window) {
        return window ? size - std::min(size, static_cast<std::size_t>(*window)) : 0;
    };
    for (auto i = newest(picked.size(), selection.spawns); i < picked.size(); ++i)
        builder.add(picked[i]->record);

    std::vector<const StreamBatch*> picked_batches;
    for (const auto& batch : batches) {
        if (selection.agent && agent_batches.count(batch.batch_id) == 0) continue;
        if (selected(selection, batch.started, batch.spec, batch.stage))
            picked_batches.push_back(&batch);
    }
    for (auto i = newest(picked_batches.size(), selection.batches); i < picked_batches.size(); ++i)
        builder.add(picked_batches[i]->record);
}

Health read_health(const common::Database& db, const fs::path& evidence_root,
                   const EvidenceLimits& limits)
{
    Health health;
    health.database = db.path().string();
    const auto file = db.file_path();
    health.file_bytes = common::size_or_zero(file) + common::size_or_zero(file.string() + "-wal");
    health.page_size = db.query_int("PRAGMA page_size");
    health.freelist_bytes = static_cast<std::uint64_t>(db.query_int("PRAGMA freelist_count")) *
                            static_cast<std::uint64_t>(health.page_size);
    health.auto_vacuum = common::auto_vacuum_mode(db);
    health.schema_version = common::schema::installed_version(db);
    if (db.table_exists("maintenance_runs")) {
        health.last_vacuum = last_run(db, "db-vacuum");
        health.last_prune = last_run(db, "evidence-prune");
    }

    health.limits = limits;
    health.evidence_root = evidence_root.string();
    std::error_code ec;
    health.evidence_exists = fs::is_directory(evidence_root, ec);
    if (!health.evidence_exists) return health;
    // The root the operator named may itself be a link (only read here); below it nothing is
    // followed. A root that cannot be opened counts no bytes, as a folder that cannot be read.
    const auto resolved = fs::canonical(evidence_root, ec);
    if (ec) return health;
    try {
        add_evidence_bytes(common::TreeRoot::open(resolved), health);
    } catch (const Error&) {
    }
    return health;
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

int run(const Options& options, std::istream& in, std::ostream& out, std::ostream& err)
{
    const common::Stopwatch stopwatch;
    Report report;
    report.source = options.source;
    report.selection = options.selection;
    ReportBuilder builder;
    if (options.source == Source::stream) {
        if (options.from == "-") {
            report.origin = "stdin";
            read_stream(in, report.origin, options.selection, builder);
        } else {
            report.origin = options.from.string();
            std::error_code ec;
            if (!fs::exists(options.from, ec))
                throw Error(Exit::no_input, "{}: no such file", report.origin);
            if (fs::is_directory(options.from, ec))
                throw Error(Exit::data, "{}: is a directory, not a JSON Lines file", report.origin);
            std::ifstream file(options.from);
            if (!file) throw Error(Exit::no_input, "{}: cannot open", report.origin);
            read_stream(file, report.origin, options.selection, builder);
        }
    } else {
        const auto db = common::Database::open(options.shared.database,
                                               {.mode = common::OpenMode::read_only,
                                                .busy_timeout_ms = options.shared.busy_timeout_ms});
        common::schema::ensure_supported(db);
        report.origin = options.shared.database.string();
        read_database(db, options.selection, builder);
        report.health = read_health(db, options.shared.evidence, options.limits);
    }
    builder.finish(report, options.compare);
    if (options.shared.verbose)
        err << fmt::format("metrics-report: {} agent spawns and {} batches from {}, read and "
                           "summarized in {:.1f} ms\n",
                           report.overall.count, report.batches.count, report.origin,
                           stopwatch.elapsed_ms());

    write_report(options, render(report, options.shared.format), out);

    const auto& selection = options.selection;
    if (!options.shared.quiet && report.overall.count == 0)
        err << fmt::format("metrics-report: {}: {}\n", report.origin,
                           selection.since || selection.spec || selection.stage || selection.agent
                               ? "no recorded agent spawns match the selection; counts are zero"
                               : "no agent spawns recorded yet; counts are zero");
    int status = 0;
    for (const auto& gate : check_gates(report, options)) {
        if (gate.message.empty()) continue;
        if (gate.broken || !options.shared.quiet) err << "metrics-report: " << gate.message << '\n';
        if (gate.broken) status = 1;
    }
    return status;
}

}  // namespace metrics_report
