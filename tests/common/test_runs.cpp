#define BOOST_TEST_MODULE common_runs
#include <boost/test/unit_test.hpp>

#include "common/runs.hpp"
#include "common/schema.hpp"
#include "support/temp_dir.hpp"

#include <sys/wait.h>
#include <unistd.h>

using common::Database;
using test_support::TempDir;

namespace {

// A process that has exited and been reaped: its identity is certainly gone.
common::ProcessIdentity finished_process()
{
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    common::ProcessIdentity identity{child, 0};
    int status = 0;
    ::waitpid(child, &status, 0);
    return identity;
}

void add_running_batch(Database& db, std::int64_t batch, const common::ProcessIdentity& owner)
{
    auto insert_batch = db.prepare("INSERT INTO spawn_batches (batch_id, spec_id, stage, mode, "
                                   "agent_count, owner_pid, owner_start) "
                                   "VALUES (?, 'SPEC-KIT-1', 'plan', 'parallel', 1, ?, ?)");
    insert_batch.bind(1, batch)
        .bind(2, static_cast<std::int64_t>(owner.pid))
        .bind(3, static_cast<std::int64_t>(owner.start_ticks))
        .run();
    auto insert_run = db.prepare(
        "INSERT INTO agent_executions (agent_id, spec_id, stage, agent_name, batch_id, outcome) "
        "VALUES (?, 'SPEC-KIT-1', 'plan', 'gemini', ?, 'running')");
    insert_run.bind(1, "agent-" + std::to_string(batch)).bind(2, batch).run();
}

}  // namespace

BOOST_AUTO_TEST_CASE(this_process_is_running)
{
    BOOST_TEST(common::is_running(common::current_process()));
}

BOOST_AUTO_TEST_CASE(a_reused_pid_is_another_process)
{
    auto self = common::current_process();
    self.start_ticks += 1;
    BOOST_TEST(!common::is_running(self));
}

BOOST_AUTO_TEST_CASE(runs_of_a_dead_spawner_are_marked_lost_and_live_ones_kept)
{
    TempDir dir;
    auto db = Database::open(dir / "t.db", {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    add_running_batch(db, 1, finished_process());
    add_running_batch(db, 2, common::current_process());

    BOOST_TEST(common::mark_lost_runs(db) == 1);
    BOOST_TEST(db.query_text("SELECT outcome FROM agent_executions WHERE batch_id = 1") == "lost");
    BOOST_TEST(
        db.query_int("SELECT completed_at IS NOT NULL FROM agent_executions WHERE batch_id = 1") ==
        1);
    BOOST_TEST(
        db.query_int("SELECT finished_at IS NOT NULL FROM spawn_batches WHERE batch_id = 1") == 1);
    BOOST_TEST(db.query_text("SELECT outcome FROM agent_executions WHERE batch_id = 2") ==
               "running");
    BOOST_TEST(common::mark_lost_runs(db) == 0);
}
