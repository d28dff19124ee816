#define BOOST_TEST_MODULE common_records
#include <boost/test/unit_test.hpp>

#include "common/records.hpp"
#include "common/schema.hpp"
#include "support/temp_dir.hpp"

#include <chrono>

using common::AgentRecord;
using common::BatchRecord;
using common::Database;
using test_support::TempDir;

namespace {

struct Fixture {
    TempDir dir;
    Database db = open();

    Database open()
    {
        auto opened = Database::open(dir / "hygiene.db", {.mode = common::OpenMode::create});
        common::schema::migrate(opened);
        return opened;
    }
};

BatchRecord batch()
{
    return {.spec_id = "SPEC-KIT-933",
            .stage = "validate",
            .phase_type = "quality_gate",
            .mode = "parallel",
            .spawn_wall_us = 900,
            .started_at = std::chrono::system_clock::now(),
            .owner = common::current_process()};
}

AgentRecord agent(const std::string& id, const std::string& outcome = "running")
{
    AgentRecord record{.agent_id = id, .agent_name = "agent-" + id, .outcome = outcome};
    if (outcome == "running") {
        record.pid = 1234;
        record.spawn_latency_us = 400;
    }
    if (outcome == "spawn_failed") record.error = "cannot run x: No such file or directory";
    record.spawned_at = std::chrono::system_clock::now();
    return record;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(record_batch_writes_the_batch_every_agent_and_every_attempt, Fixture)
{
    const std::vector agents{agent("a"), agent("b", "spawn_failed"), agent("c", "cancelled")};
    const auto id = common::record_batch(db, batch(), agents);

    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_batches WHERE agent_count = 3 AND "
                            "phase_type = 'quality_gate' AND finished_at IS NULL") == 1);
    BOOST_TEST(db.query_int("SELECT count(*) FROM agent_executions WHERE batch_id = " +
                            std::to_string(id) + " AND phase_type = 'quality_gate'") == 3);
    // The cancelled agent was never attempted: no spawn_metrics row.
    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_metrics") == 2);
    BOOST_TEST(db.query_int("SELECT success FROM spawn_metrics WHERE agent_id = 'b'") == 0);
    BOOST_TEST(db.query_int("SELECT spawn_latency_us IS NULL FROM agent_executions "
                            "WHERE agent_id = 'b'") == 1);
    BOOST_TEST(db.query_text("SELECT spawn_error FROM agent_executions "
                             "WHERE agent_id = 'b'") == "cannot run x: No such file or directory");
    // extraction_error means "JSON extraction failed" to the upstream: never written.
    BOOST_TEST(db.query_int("SELECT count(*) FROM agent_executions "
                            "WHERE extraction_error IS NOT NULL") == 0);
}

BOOST_FIXTURE_TEST_CASE(a_batch_is_never_half_recorded, Fixture)
{
    // The second agent reuses the first one's primary key: the whole batch is rolled back.
    const std::vector agents{agent("same"), agent("same")};
    BOOST_CHECK_THROW(common::record_batch(db, batch(), agents), common::Error);

    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_batches") == 0);
    BOOST_TEST(db.query_int("SELECT count(*) FROM agent_executions") == 0);
    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_metrics") == 0);
}

BOOST_FIXTURE_TEST_CASE(record_exits_and_finish_batch_complete_the_rows, Fixture)
{
    const std::vector agents{agent("a")};
    const auto id = common::record_batch(db, batch(), agents);

    const common::ExitRecord exit{.agent_id = "a",
                                  .outcome = "exit",
                                  .exit_code = 3,
                                  .run_time_ms = 201,
                                  .cpu_time_us = 1234,
                                  .max_rss_kb = 3400,
                                  .response_text = "answer",
                                  .evidence_path = "consensus/SPEC-KIT-933/x.txt",
                                  .completed_at = std::chrono::system_clock::now()};
    common::record_exits(db, id, std::span(&exit, 1));
    common::finish_batch(db, {.batch_id = id,
                              .successes = 0,
                              .batch_wall_us = 201000,
                              .finished_at = std::chrono::system_clock::now()});

    BOOST_TEST(db.query_int("SELECT count(*) FROM agent_executions WHERE outcome = 'exit' AND "
                            "exit_code = 3 AND signal IS NULL AND cpu_time_us = 1234 AND "
                            "max_rss_kb = 3400 AND response_text = 'answer' AND "
                            "completed_at IS NOT NULL") == 1);
    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_batches WHERE successes = 0 AND "
                            "batch_wall_us = 201000 AND finished_at IS NOT NULL") == 1);
}

BOOST_AUTO_TEST_CASE(old_rows_are_counted_then_deleted_and_running_ones_kept)
{
    test_support::TempDir dir;
    auto db = common::Database::open(dir / "t.db", {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    db.exec(R"sql(
INSERT INTO spawn_batches (batch_id, spec_id, stage, mode, agent_count, started_at, finished_at,
    owner_pid, owner_start) VALUES
  (1, 'S-1', 'plan', 'parallel', 1, '2020-01-01 00:00:00', '2020-01-01 00:00:01', 1, 1),
  (2, 'S-1', 'plan', 'parallel', 1, '2030-01-01 00:00:00', NULL, 1, 1);
INSERT INTO spawn_metrics (batch_id, agent_name, success, recorded_at) VALUES
  (1, 'a', 1, '2020-01-01 00:00:00'), (2, 'a', 1, '2030-01-01 00:00:00');
INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, agent_name, spawned_at,
    outcome, batch_id) VALUES
  ('old', 'S-1', 'plan', 'regular_stage', 'a', '2020-01-01 00:00:00', 'success', 1),
  ('stuck', 'S-1', 'plan', 'regular_stage', 'a', '2020-01-01 00:00:00', 'running', 1),
  ('new', 'S-1', 'plan', 'regular_stage', 'a', '2030-01-01 00:00:00', 'success', 2);
)sql");
    const auto cutoff = common::TimePoint(std::chrono::seconds(1735689600));  // 2025-01-01
    const auto counted = common::count_rows_older_than(db, cutoff);
    BOOST_TEST(counted.total() == 3);
    const auto deleted = common::delete_rows_older_than(db, cutoff);
    BOOST_TEST(deleted.agent_executions == 1);
    BOOST_TEST(deleted.spawn_metrics == 1);
    BOOST_TEST(deleted.spawn_batches == 1);
    BOOST_TEST(db.query_int("SELECT count(*) FROM agent_executions") == 2);
    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_batches") == 1);
}

BOOST_AUTO_TEST_CASE(rows_of_other_writers_are_kept_unless_asked_and_upstream_columns_suffice)
{
    test_support::TempDir dir;
    auto db = common::Database::open(dir / "t.db", {.mode = common::OpenMode::create});
    // The upstream's own table, never migrated: no outcome, no batch_id.
    db.exec("CREATE TABLE agent_executions (agent_id TEXT PRIMARY KEY, spec_id TEXT, "
            "spawned_at TEXT, completed_at TEXT)");
    db.exec("INSERT INTO agent_executions VALUES ('done', 'S-1', '2020-01-01 00:00:00', "
            "'2020-01-01 00:00:01'), ('open', 'S-1', '2020-01-01 00:00:00', NULL)");
    const auto cutoff = common::TimePoint(std::chrono::seconds(1735689600));  // 2025-01-01
    BOOST_TEST(common::count_rows_older_than(db, cutoff).total() == 0);
    BOOST_TEST(common::delete_rows_older_than(db, cutoff).total() == 0);
    BOOST_TEST(common::count_rows_older_than(db, cutoff, common::RowOwners::all).total() == 1);
    BOOST_TEST(common::delete_rows_older_than(db, cutoff, common::RowOwners::all).total() == 1);
    BOOST_TEST(db.query_int("SELECT count(*) FROM agent_executions WHERE agent_id = 'open'") == 1);
}
