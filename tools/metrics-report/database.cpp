// metrics-report's database source: spawn records, batches, all-time counters and health.
#include "metrics_report.hpp"

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/evidence_size.hpp"
#include "common/files.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"
#include "common/tree.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <unordered_map>

namespace metrics_report {
namespace {

using common::Error;
using common::Exit;
namespace fs = std::filesystem;

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

// A row as errors name it ("spawn_metrics row 7"), formatted only when one is thrown.
struct RowName {
    std::string_view table;
    std::int64_t rowid;
};

// The measurement in column `index` of `rows`, a field of `row`:
// NULL (never measured) or a plausible whole number. Throws Error 65 naming the row for
// anything else: text, a blob or a fraction in its place would otherwise count as 0.
std::optional<std::int64_t> measurement(const common::Database& db, const common::Statement& rows,
                                        int index, RowName row, std::string_view field)
{
    if (rows.is_null(index)) return std::nullopt;
    if (!rows.is_integer(index))
        throw Error(Exit::data, "{}: {} row {}: {} '{}' is not a whole number", db.path().string(),
                    row.table, row.rowid, field, common::sanitize_utf8(rows.column_text(index)));
    const auto value = rows.column_int(index);
    if (const auto why = implausible(field, value))
        throw Error(Exit::data, "{}: {} row {}: {}", db.path().string(), row.table, row.rowid,
                    *why);
    return value;
}

// The time in column `index` of `rows`, a field of `row`, as SQLite's datetime() writes it.
// Throws Error 65 naming the row for anything else: the windows compare stored times as text,
// and "garbage" or "2026-11-01T08:00:00Z" would sort as newer than they are.
std::string recorded_time(const common::Database& db, const common::Statement& rows, int index,
                          RowName row, std::string_view field)
{
    auto text = rows.column_text(index);
    if (!common::is_sql_timestamp(text))
        throw Error(Exit::data, "{}: {} row {}: {} '{}' is not a UTC time as YYYY-MM-DD HH:MM:SS",
                    db.path().string(), row.table, row.rowid, field, common::sanitize_utf8(text));
    return text;
}

// An agent cancelled before it started: an agent_executions row without a spawn_metrics row.
struct Cancelled {
    std::string time;    // spawned_at, when it was recorded
    std::int64_t rowid;  // in agent_executions: the order of recording within one time
    std::string agent;
};

// The cancelled agents of the selection, newest first.
std::vector<Cancelled> read_cancelled(const common::Database& db, const Selection& selection)
{
    Conditions where;
    if (selection.since) where.add("e.spawned_at >= ?", common::sql_timestamp(*selection.since));
    // None older than the window's oldest spawn can be in it.
    if (selection.spawns) {
        auto oldest = db.prepare("SELECT recorded_at FROM spawn_metrics ORDER BY recorded_at "
                                 "DESC, metric_id DESC LIMIT 1 OFFSET ?");
        oldest.bind(1, *selection.spawns - 1);
        if (oldest.step()) where.add("e.spawned_at >= ?", oldest.column_text(0));
    }
    if (selection.spec) where.add("e.spec_id = ?", *selection.spec);
    if (selection.stage) where.add("e.stage = ?", *selection.stage);
    if (selection.agent) where.add("e.agent_name = ?", *selection.agent);
    auto rows = db.prepare(fmt::format(
        "SELECT e.spawned_at, e.agent_name, e.rowid FROM agent_executions e WHERE e.outcome = "
        "'cancelled' AND e.batch_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM spawn_metrics m "
        "WHERE m.batch_id = e.batch_id AND m.agent_id = e.agent_id) {} "
        "ORDER BY e.spawned_at DESC, e.rowid DESC LIMIT {}",
        where.sql, selection.spawns.value_or(-1)));
    where.bind(rows);
    std::vector<Cancelled> cancelled;
    while (rows.step()) {
        const auto rowid = rows.column_int(2);
        cancelled.push_back({recorded_time(db, rows, 0, {"agent_executions", rowid}, "spawned_at"),
                             rowid, rows.column_text(1)});
    }
    return cancelled;
}

std::string spawns_query(const common::Database& db, const Selection& selection,
                         const Conditions& where, bool joined)
{
    const auto execution_columns =
        joined ? db.column_names("agent_executions") : std::vector<std::string>{};
    const bool by_batch = selection.spec || selection.stage;
    return fmt::format(
        "SELECT m.agent_name, m.success, m.spawn_latency_us, m.batch_id, {}, {}, {}, {}, "
        "m.metric_id, m.recorded_at, {} FROM spawn_metrics m {} {} WHERE 1 {} {}",
        joined ? "e.outcome" : "NULL", joined ? "e.run_time_ms" : "NULL",
        joined ? column_or_null(execution_columns, "cpu_time_us", "e.cpu_time_us") : "NULL",
        joined ? column_or_null(execution_columns, "max_rss_kb", "e.max_rss_kb") : "NULL",
        joined ? "e.rowid" : "NULL",
        joined ? "LEFT JOIN agent_executions e ON e.agent_id = m.agent_id" : "",
        by_batch ? "JOIN spawn_batches b ON b.batch_id = m.batch_id" : "", where.sql,
        // Every row is summed the same in any order: a table scan is cheaper than the index.
        selection.spawns ? fmt::format("ORDER BY m.recorded_at DESC, m.metric_id DESC LIMIT {}",
                                       *selection.spawns)
                         : std::string());
}

// The newest spawns by time (recorded_at, then id), merged with the agents cancelled before
// they started, which have no spawn_metrics row.
void read_spawns(const common::Database& db, const Selection& selection, ReportBuilder& builder)
{
    const auto metric_columns = db.column_names("spawn_metrics");
    const bool joined =
        db.table_exists("agent_executions") &&
        std::find(metric_columns.begin(), metric_columns.end(), "agent_id") != metric_columns.end();
    Conditions where;
    if (selection.since) where.add("m.recorded_at >= ?", common::sql_timestamp(*selection.since));
    if (selection.spec) where.add("b.spec_id = ?", *selection.spec);
    if (selection.stage) where.add("b.stage = ?", *selection.stage);
    if (selection.agent) where.add("m.agent_name = ?", *selection.agent);
    auto rows = db.prepare(spawns_query(db, selection, where, joined));
    where.bind(rows);

    const auto cancelled = joined ? read_cancelled(db, selection) : std::vector<Cancelled>{};
    auto next_cancelled = cancelled.begin();
    const auto limit = selection.spawns.value_or(std::numeric_limits<std::int64_t>::max());
    std::int64_t added = 0;
    // The cancelled agents recorded after a spawn (at `time`, its agent_executions row
    // `rowid`): a later time, or the same second and a later row, as the stream orders them.
    const auto add_cancelled_after = [&](const std::string& time, std::int64_t rowid) {
        for (; next_cancelled != cancelled.end() && added < limit &&
               (next_cancelled->time > time ||
                (next_cancelled->time == time && next_cancelled->rowid > rowid));
             ++next_cancelled, ++added)
            builder.add(SpawnRecord{.agent = next_cancelled->agent, .outcome = Outcome::cancelled});
    };
    OwnerCheck owners(db);
    SpawnRecord spawn;
    while (added < limit && rows.step()) {
        const RowName metric{"spawn_metrics", rows.column_int(8)};
        const auto recorded_at = recorded_time(db, rows, 9, metric, "recorded_at");
        if (selection.spawns)
            add_cancelled_after(recorded_at, rows.is_null(10) ? -1 : rows.column_int(10));
        if (added >= limit) break;
        // Agent names repeat row after row: reuse the string when it is the same.
        if (const auto name = rows.column_text(0); name != spawn.agent) spawn.agent = name;
        spawn.spawned = rows.column_int(1) != 0;
        spawn.spawn_latency_us = measurement(db, rows, 2, metric, "spawn_latency_us");
        spawn.outcome = rows.is_null(4) ? (spawn.spawned ? Outcome::unknown : Outcome::spawn_failed)
                                        : outcome_from_name(rows.column_text(4));
        if (spawn.outcome == Outcome::running && owners.gone(rows.column_int(3)))
            spawn.outcome = Outcome::lost;
        // The agent's run is measured in its agent_executions row.
        const RowName execution{"agent_executions", rows.column_int(10)};
        spawn.run_time_ms = measurement(db, rows, 5, execution, "run_time_ms");
        spawn.cpu_time_us = measurement(db, rows, 6, execution, "cpu_time_us");
        spawn.max_rss_kb = measurement(db, rows, 7, execution, "max_rss_kb");
        builder.add(spawn);
        ++added;
    }
    add_cancelled_after("", std::numeric_limits<std::int64_t>::min());
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
    auto rows = db.prepare(fmt::format(
        "SELECT b.mode, b.agent_count, b.successes, b.spawn_wall_us, b.batch_wall_us, "
        "b.batch_id, b.started_at FROM spawn_batches b WHERE b.batch_wall_us IS NOT NULL {} "
        "ORDER BY b.started_at DESC, b.batch_id DESC LIMIT {}",
        where.sql, selection.batches.value_or(-1)));
    where.bind(rows);
    BatchRecord batch;
    while (rows.step()) {
        const RowName row{"spawn_batches", rows.column_int(5)};
        recorded_time(db, rows, 6, row, "started_at");
        batch.mode = rows.column_text(0);
        batch.agents = measurement(db, rows, 1, row, "agent_count").value_or(0);
        batch.successes = measurement(db, rows, 2, row, "successes");
        batch.spawn_wall_us = measurement(db, rows, 3, row, "spawn_wall_us");
        batch.batch_wall_us = measurement(db, rows, 4, row, "batch_wall_us");
        builder.add(batch);
    }
}

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

// The last finished_at with outcome ok per tool.
std::map<std::string, std::string> last_successes(const common::Database& db)
{
    std::map<std::string, std::string> last;
    auto query = db.prepare("SELECT tool, max(finished_at) FROM maintenance_runs "
                            "WHERE outcome = 'ok' GROUP BY tool");
    while (query.step())
        last.emplace(query.column_text(0), query.column_text(1));
    return last;
}

}  // namespace

void read_database(const common::Database& db, const Selection& selection, ReportBuilder& builder)
{
    if (db.table_exists("spawn_metrics")) read_spawns(db, selection, builder);
    if (db.table_exists("spawn_batches")) read_batches(db, selection, builder);
}

std::optional<Totals> read_totals(const common::Database& db)
{
    if (!db.table_exists(common::schema::counters_table)) return std::nullopt;
    Totals totals;
    auto rows = db.prepare(fmt::format("SELECT counter, label, outcome, value FROM {}",
                                       common::schema::counters_table));
    while (rows.step()) {
        const auto counter = rows.column_text(0);
        auto* into = counter == "spawns"    ? &totals.spawns
                     : counter == "runs"    ? &totals.runs
                     : counter == "batches" ? &totals.batches
                                            : nullptr;
        if (into) (*into)[{rows.column_text(1), rows.column_text(2)}] += rows.column_int(3);
    }
    return totals;
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
        health.last_success = last_successes(db);
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
}  // namespace metrics_report
