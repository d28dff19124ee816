#define BOOST_TEST_MODULE common_records
#include <boost/test/unit_test.hpp>

#include "common/records.hpp"
#include "common/schema.hpp"
#include "support/temp_dir.hpp"

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
INSERT INTO agent_executions (agent_id, spec_id, stage, agent_name, spawned_at, outcome) VALUES
  ('old', 'S-1', 'plan', 'a', '2020-01-01 00:00:00', 'success'),
  ('stuck', 'S-1', 'plan', 'a', '2020-01-01 00:00:00', 'running'),
  ('new', 'S-1', 'plan', 'a', '2030-01-01 00:00:00', 'success');
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
