#include "common/records.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <string_view>

namespace common {

namespace {

// The rows of agents of batch `batch_id`, inside the caller's transaction.
void insert_agents(Database& db, std::int64_t batch_id, const BatchRecord& batch,
                   std::span<const AgentRecord> agents)
{
    const bool with_branch =
        batch.branch_id && db.query_int("SELECT count(*) FROM pragma_table_info("
                                        "'agent_executions') WHERE name = 'branch_id'") > 0;
    auto insert_agent = db.prepare(fmt::format(
        "INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, agent_name, "
        "run_id, spawned_at, completed_at, spawn_error, batch_id, pid, outcome, "
        "spawn_latency_us, pid_start{}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?{})",
        with_branch ? ", branch_id" : "", with_branch ? ", ?" : ""));
    auto insert_metric =
        db.prepare("INSERT INTO spawn_metrics (batch_id, agent_id, agent_name, spawn_latency_us, "
                   "success, recorded_at) VALUES (?, ?, ?, ?, ?, ?)");
    for (const auto& agent : agents) {
        const auto spawned_at = sql_timestamp(agent.spawned_at);
        const bool ended = agent.outcome != "running";
        insert_agent.bind(1, agent.agent_id)
            .bind(2, batch.spec_id)
            .bind(3, batch.stage)
            .bind(4, batch.phase_type)
            .bind(5, agent.agent_name)
            .bind(6, batch.run_id)
            .bind(7, spawned_at)
            .bind(8, ended ? std::optional(spawned_at) : std::nullopt)
            .bind(9, agent.error)
            .bind(10, batch_id)
            .bind(11, agent.pid)
            .bind(12, agent.outcome)
            .bind(13, agent.spawn_latency_us)
            .bind(14, agent.pid_start != 0
                          ? std::optional<std::int64_t>(static_cast<std::int64_t>(agent.pid_start))
                          : std::nullopt);
        if (with_branch) insert_agent.bind(15, batch.branch_id);
        insert_agent.run();
        insert_agent.reset();
        if (agent.outcome == "cancelled") continue;  // never attempted
        insert_metric.bind(1, batch_id)
            .bind(2, agent.agent_id)
            .bind(3, agent.agent_name)
            .bind(4, agent.spawn_latency_us)
            .bind(5, agent.outcome == "running" ? 1 : 0)
            .bind(6, spawned_at)
            .run();
        insert_metric.reset();
    }
}

}  // namespace

std::int64_t record_batch(Database& db, const BatchRecord& batch,
                          std::span<const AgentRecord> agents, const RetryPolicy& retry)
{
    std::int64_t batch_id = 0;
    write_transaction(
        db,
        [&] {
            auto insert_batch =
                db.prepare("INSERT INTO spawn_batches (spec_id, stage, run_id, phase_type, mode, "
                           "agent_count, spawn_wall_us, started_at, owner_pid, owner_start) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            insert_batch.bind(1, batch.spec_id)
                .bind(2, batch.stage)
                .bind(3, batch.run_id)
                .bind(4, batch.phase_type)
                .bind(5, batch.mode)
                .bind(6, batch.agent_count >= 0 ? batch.agent_count
                                                : static_cast<std::int64_t>(agents.size()))
                .bind(7, batch.spawn_wall_us)
                .bind(8, sql_timestamp(batch.started_at))
                .bind(9, static_cast<std::int64_t>(batch.owner.pid))
                .bind(10, static_cast<std::int64_t>(batch.owner.start_ticks))
                .run();
            batch_id = db.last_insert_rowid();

            insert_agents(db, batch_id, batch, agents);
        },
        retry);
    return batch_id;
}

void record_more_agents(Database& db, std::int64_t batch_id, const BatchRecord& batch,
                        std::span<const AgentRecord> agents, const RetryPolicy& retry)
{
    write_transaction(
        db, [&] { insert_agents(db, batch_id, batch, agents); }, retry);
}

namespace {

// The exits' updates, inside the caller's transaction.
void update_exits(Database& db, std::int64_t batch_id, std::span<const ExitRecord> exits)
{
    if (exits.empty()) return;
    auto update =
        db.prepare("UPDATE agent_executions SET outcome = ?, exit_code = ?, signal = ?, "
                   "run_time_ms = ?, cpu_time_us = ?, max_rss_kb = ?, response_text = ?, "
                   "evidence_path = ?, completed_at = ? WHERE agent_id = ? AND batch_id = ?");
    for (const auto& exit : exits) {
        update.bind(1, exit.outcome)
            .bind(2, exit.exit_code)
            .bind(3, exit.signal)
            .bind(4, exit.run_time_ms)
            .bind(5, exit.cpu_time_us)
            .bind(6, exit.max_rss_kb)
            .bind(7, exit.response_text)
            .bind(8, exit.evidence_path)
            .bind(9, sql_timestamp(exit.completed_at))
            .bind(10, exit.agent_id)
            .bind(11, batch_id)
            .run();
        update.reset();
    }
}

}  // namespace

void record_exits(Database& db, std::int64_t batch_id, std::span<const ExitRecord> exits,
                  const RetryPolicy& retry)
{
    write_transaction(
        db, [&] { update_exits(db, batch_id, exits); }, retry);
}

void finish_batch(Database& db, const BatchFinish& finish, const RetryPolicy& retry)
{
    write_transaction(
        db,
        [&] {
            update_exits(db, finish.batch_id, finish.exits);
            auto update = db.prepare(
                "UPDATE spawn_batches SET successes = ?, batch_wall_us = ?, finished_at = ?, "
                "spawn_wall_us = coalesce(?, spawn_wall_us) WHERE batch_id = ?");
            update.bind(1, finish.successes)
                .bind(2, finish.batch_wall_us)
                .bind(3, sql_timestamp(finish.finished_at))
                .bind(4, finish.spawn_wall_us)
                .bind(5, finish.batch_id)
                .run();
        },
        retry);
}

namespace {

// The agent_executions rows that count as older than ?1 (a sql_timestamp()): the toolkit's
// (they carry a batch_id) or, with RowOwners::all, every writer's; never one in flight.
// Columns a database lacks (an upstream one the toolkit has not migrated) are not asked for.
std::string old_executions(const Database& db, RowOwners owners)
{
    const auto columns = db.column_names("agent_executions");
    const auto has = [&](std::string_view column) {
        return std::find(columns.begin(), columns.end(), column) != columns.end();
    };
    std::string rows = "FROM agent_executions WHERE coalesce(completed_at, spawned_at) < ?1";
    if (has("outcome"))
        rows += " AND coalesce(outcome, '') <> 'running'";
    else
        rows += " AND completed_at IS NOT NULL";
    if (owners == RowOwners::toolkit)
        rows += has("batch_id") ? " AND batch_id IS NOT NULL" : " AND 0";
    return rows;
}

constexpr std::string_view old_metrics = "FROM spawn_metrics WHERE recorded_at < ?1";
constexpr std::string_view old_batches =
    "FROM spawn_batches WHERE coalesce(finished_at, started_at) < ?1 "
    "AND finished_at IS NOT NULL";

std::int64_t count(const Database& db, std::string_view table, std::string_view rows,
                   const std::string& cutoff)
{
    if (!db.table_exists(table)) return 0;
    auto statement = db.prepare(std::string("SELECT count(*) ") + std::string(rows));
    statement.bind(1, cutoff);
    statement.step();
    return statement.column_int(0);
}

std::int64_t remove(Database& db, std::string_view table, std::string_view rows,
                    const std::string& cutoff)
{
    if (!db.table_exists(table)) return 0;
    auto statement = db.prepare(std::string("DELETE ") + std::string(rows));
    statement.bind(1, cutoff);
    statement.run();
    return db.changes();
}

}  // namespace

OldRows count_rows_older_than(const Database& db, TimePoint cutoff, RowOwners owners)
{
    const auto stamp = sql_timestamp(cutoff);
    OldRows rows;
    if (db.table_exists("agent_executions"))
        rows.agent_executions = count(db, "agent_executions", old_executions(db, owners), stamp);
    rows.spawn_metrics = count(db, "spawn_metrics", old_metrics, stamp);
    // A batch's metrics go with it (ON DELETE CASCADE): count those not already counted.
    rows.spawn_batches = count(db, "spawn_batches", old_batches, stamp);
    if (db.table_exists("spawn_metrics") && db.table_exists("spawn_batches")) {
        auto cascaded = db.prepare(
            "SELECT count(*) FROM spawn_metrics WHERE recorded_at >= ?1 AND batch_id IN "
            "(SELECT batch_id FROM spawn_batches WHERE coalesce(finished_at, started_at) < ?1 "
            "AND finished_at IS NOT NULL)");
        cascaded.bind(1, stamp);
        cascaded.step();
        rows.spawn_metrics += cascaded.column_int(0);
    }
    return rows;
}

OldRows delete_rows_older_than(Database& db, TimePoint cutoff, RowOwners owners,
                               const RetryPolicy& retry)
{
    const auto stamp = sql_timestamp(cutoff);
    OldRows rows;
    write_transaction(
        db,
        [&] {
            rows = {};
            if (db.table_exists("agent_executions"))
                rows.agent_executions =
                    remove(db, "agent_executions", old_executions(db, owners), stamp);
            rows.spawn_metrics = remove(db, "spawn_metrics", old_metrics, stamp);
            if (db.table_exists("spawn_metrics") && db.table_exists("spawn_batches")) {
                // Deleted here rather than left to the cascade, so that they are counted.
                auto cascaded =
                    db.prepare("DELETE FROM spawn_metrics WHERE batch_id IN (SELECT batch_id FROM "
                               "spawn_batches WHERE coalesce(finished_at, started_at) < ?1 "
                               "AND finished_at IS NOT NULL)");
                cascaded.bind(1, stamp);
                cascaded.run();
                rows.spawn_metrics += db.changes();
            }
            rows.spawn_batches = remove(db, "spawn_batches", old_batches, stamp);
        },
        retry);
    return rows;
}

void record_maintenance_run(Database& db, const MaintenanceRun& run, const RetryPolicy& retry)
{
    write_transaction(
        db,
        [&] {
            auto insert = db.prepare(
                "INSERT INTO maintenance_runs (tool, started_at, finished_at, outcome, summary) "
                "VALUES (?, ?, ?, ?, ?)");
            insert.bind(1, run.tool)
                .bind(2, sql_timestamp(run.started_at))
                .bind(3, sql_timestamp(run.finished_at))
                .bind(4, run.failed ? "failed" : "ok")
                .bind(5, run.summary)
                .run();
        },
        retry);
}

std::int64_t record_evidence(Database& db, const EvidenceRecord& record, const RetryPolicy& retry)
{
    return write_transaction(
        db,
        [&] {
            auto insert = db.prepare(
                "INSERT INTO evidence_archives (spec_id, action, archive_path, file_count, "
                "bytes_before, bytes_after, sha256, rule, evidence_time, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            insert.bind(1, record.spec_id)
                .bind(2, record.action)
                .bind(3, record.archive_path)
                .bind(4, record.file_count)
                .bind(5, record.bytes_before)
                .bind(6, record.bytes_after)
                .bind(7, record.sha256)
                .bind(8, record.rule)
                .bind(9, sql_timestamp(record.evidence_time))
                .bind(10, sql_timestamp(record.created_at))
                .run();
            return db.last_insert_rowid();
        },
        retry);
}

std::vector<KnownArchive> known_archives(const Database& db)
{
    std::vector<KnownArchive> known;
    auto rows =
        db.prepare("SELECT archive_path, spec_id, evidence_time, sha256, created_at FROM "
                   "evidence_archives WHERE action = 'archive' AND archive_path IS NOT NULL "
                   "ORDER BY archive_id");
    while (rows.step())
        known.push_back({rows.column_text(0), rows.column_text(1), rows.column_text(2),
                         rows.column_text(3), rows.column_text(4)});
    return known;
}

}  // namespace common
