#include "common/records.hpp"

#include <string_view>

namespace common {
namespace {

// The rows of each table that count as older than ?1 (a sql_timestamp()).
constexpr std::string_view old_executions =
    "FROM agent_executions WHERE coalesce(completed_at, spawned_at) < ?1 "
    "AND coalesce(outcome, '') <> 'running'";
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

OldRows count_rows_older_than(const Database& db, TimePoint cutoff)
{
    const auto stamp = sql_timestamp(cutoff);
    OldRows rows;
    rows.agent_executions = count(db, "agent_executions", old_executions, stamp);
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

OldRows delete_rows_older_than(Database& db, TimePoint cutoff, const RetryPolicy& retry)
{
    const auto stamp = sql_timestamp(cutoff);
    OldRows rows;
    write_transaction(
        db,
        [&] {
            rows = {};
            rows.agent_executions = remove(db, "agent_executions", old_executions, stamp);
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

}  // namespace common
