#define BOOST_TEST_MODULE test_cli_lost_runs
#include <boost/test/unit_test.hpp>

#include "common/runs.hpp"
#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

// A spawn-agents killed mid-batch leaves `running` rows; the next tool that writes to the
// database (here db-vacuum --auto, as the daily timer runs it) marks them lost.

namespace {

namespace fs = std::filesystem;
using common::Database;
using common::OpenMode;

void add_batch(Database& db, std::int64_t batch, const common::ProcessIdentity& owner,
               const std::vector<std::string>& outcomes)
{
    db.prepare("INSERT INTO spawn_batches (batch_id, spec_id, stage, mode, agent_count, "
               "owner_pid, owner_start) VALUES (?, 'SPEC-KIT-933', 'validate', 'parallel', ?, "
               "?, ?)")
        .bind(1, batch)
        .bind(2, outcomes.size())
        .bind(3, owner.pid)
        .bind(4, owner.start_ticks)
        .run();
    for (std::size_t i = 0; i < outcomes.size(); ++i)
        db.prepare("INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, "
                   "agent_name, batch_id, outcome) VALUES (?, 'SPEC-KIT-933', 'validate', "
                   "'regular_stage', 'gemini', ?, ?)")
            .bind(1, "batch" + std::to_string(batch) + "-agent" + std::to_string(i))
            .bind(2, batch)
            .bind(3, outcomes[i])
            .run();
}

test_support::ProcessResult vacuum(const test_support::TempDir& dir,
                                   const std::vector<std::string>& args)
{
    std::vector<std::string> argv{DB_VACUUM_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    fs::create_directories(dir / "config");
    return test_support::run_process(argv, {}, test_support::isolated_environment(dir));
}

test_support::ProcessResult spawn_agents(const test_support::TempDir& dir, const std::string& batch)
{
    fs::create_directories(dir / "config");
    return test_support::run_process({SPAWN_AGENTS_BIN, "--db", (dir / "hygiene.db").string(),
                                      "--evidence", (dir / "evidence").string()},
                                     batch, test_support::isolated_environment(dir));
}

}  // namespace

// Finishing a batch and writing its exits is one transaction: when the exits cannot be
// written, the batch is not marked finished either, and the next tool marks its agents lost.
BOOST_AUTO_TEST_CASE(a_batch_whose_exits_cannot_be_written_stays_unfinished_until_marked_lost)
{
    test_support::TempDir dir;
    const auto path = dir / "hygiene.db";
    fixture::make_upstream_database(path, {.bloat_bytes = 0, .specs = 1, .toolkit_schema = true});
    {
        auto db = Database::open(path);
        // Every write of an agent's end fails, as on a full disk; marking it lost does not.
        db.exec("CREATE TRIGGER exits_fail BEFORE UPDATE OF outcome ON agent_executions "
                "WHEN NEW.outcome <> 'lost' BEGIN SELECT RAISE(ABORT, 'no room for exits'); END");
    }

    const auto spawned =
        spawn_agents(dir, R"({"spec_id": "SPEC-KIT-933", "stage": "validate", "agents": [
            {"name": "ok", "command": ["true"]}, {"name": "bad", "command": ["false"]}]})");
    BOOST_TEST_INFO("stderr: " << spawned.err);
    BOOST_TEST(spawned.exit_code != 0);
    BOOST_TEST(spawned.exit_code != 1);  // a failure of the tool, not of an agent
    {
        auto db = Database::open(path, {.mode = OpenMode::read_only});
        BOOST_TEST(db.query_int("SELECT count(*) FROM agent_executions e JOIN spawn_batches b "
                                "USING (batch_id) WHERE b.finished_at IS NOT NULL "
                                "AND e.outcome = 'running'") == 0);
        BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_batches WHERE finished_at IS NULL") ==
                   1);
        BOOST_TEST(
            db.query_int("SELECT count(*) FROM agent_executions WHERE outcome = 'running'") == 2);
    }

    const auto result = vacuum(dir, {"--auto", "--json", "--db", path.string()});
    BOOST_TEST_INFO("stderr: " << result.err);
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(nlohmann::json::parse(result.out).at("lost_runs_marked") == 2);
    auto db = Database::open(path, {.mode = OpenMode::read_only});
    BOOST_TEST(db.query_text("SELECT group_concat(outcome, ',') FROM agent_executions") ==
               "lost,lost");
    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_batches WHERE finished_at IS NULL") == 0);
}

BOOST_AUTO_TEST_CASE(auto_marks_runs_of_a_dead_spawner_lost_and_keeps_live_ones)
{
    test_support::TempDir dir;
    const auto path = dir / "hygiene.db";
    fixture::make_upstream_database(path, {.bloat_bytes = 0, .specs = 2, .toolkit_schema = true});
    {
        auto db = Database::open(path);
        add_batch(db, 1, test_support::gone_process(), {"running", "success"});
        add_batch(db, 2, common::current_process(), {"running"});
        add_batch(db, 3, test_support::gone_process(), {"success", "exit"});
    }

    const auto result = vacuum(dir, {"--auto", "--json", "--db", path.string()});
    BOOST_TEST_INFO("stderr: " << result.err);
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(nlohmann::json::parse(result.out).at("lost_runs_marked") == 1);

    auto db = Database::open(path, {.mode = OpenMode::read_only});
    BOOST_TEST(db.query_text("SELECT group_concat(outcome, ',') FROM (SELECT outcome FROM "
                             "agent_executions WHERE batch_id = 1 ORDER BY agent_id)") ==
               "lost,success");
    BOOST_TEST(db.query_text("SELECT outcome FROM agent_executions WHERE batch_id = 2") ==
               "running");
    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_batches WHERE finished_at IS NULL") == 1);
    BOOST_TEST(db.query_int("SELECT successes FROM spawn_batches WHERE batch_id = 3") == 1);
}

BOOST_AUTO_TEST_CASE(a_status_report_marks_nothing)
{
    test_support::TempDir dir;
    const auto path = dir / "hygiene.db";
    fixture::make_upstream_database(path, {.bloat_bytes = 0, .specs = 1, .toolkit_schema = true});
    {
        auto db = Database::open(path);
        add_batch(db, 1, test_support::gone_process(), {"running"});
    }
    const auto result = vacuum(dir, {"--json", "--db", path.string()});
    BOOST_TEST(result.exit_code == 0);
    auto db = Database::open(path, {.mode = OpenMode::read_only});
    BOOST_TEST(db.query_text("SELECT outcome FROM agent_executions WHERE batch_id = 1") ==
               "running");
}
