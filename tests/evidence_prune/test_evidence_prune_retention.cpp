#define BOOST_TEST_MODULE test_evidence_prune_retention
#include <boost/test/unit_test.hpp>

#include "archiver.hpp"
#include "common/archive.hpp"
#include "common/digest.hpp"
#include "common/error.hpp"
#include "common/schema.hpp"
#include "common/sqlite.hpp"
#include "common/tree.hpp"
#include "evidence_prune.hpp"
#include "evidence_tree.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <map>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace evidence_tree;

}  // namespace

BOOST_AUTO_TEST_CASE(rows_older_than_the_purge_age_are_deleted_and_newer_kept)
{
    Tree tree;
    {
        auto db = common::Database::open(tree.db, {.mode = common::OpenMode::create});
        common::schema::migrate(db);
        db.exec(R"sql(
INSERT INTO spawn_batches (batch_id, spec_id, stage, mode, agent_count, started_at, finished_at,
    owner_pid, owner_start) VALUES
  (1, 'SPEC-KIT-1', 'plan', 'parallel', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:01', 1, 1),
  (2, 'SPEC-KIT-1', 'plan', 'parallel', 1, '2026-05-20 00:00:00', '2026-05-20 00:00:01', 1, 1);
INSERT INTO spawn_metrics (batch_id, agent_name, spawn_latency_us, success, recorded_at) VALUES
  (1, 'gemini', 100, 1, '2026-01-01 00:00:00'), (2, 'gemini', 100, 1, '2026-05-20 00:00:00');
INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, agent_name, spawned_at,
    completed_at, outcome, batch_id) VALUES
  ('old', 'SPEC-KIT-1', 'plan', 'regular_stage', 'gemini', '2026-01-01 00:00:00',
   '2026-01-01 00:00:01', 'success', 1),
  ('new', 'SPEC-KIT-1', 'plan', 'regular_stage', 'gemini', '2026-05-20 00:00:00',
   '2026-05-20 00:00:01', 'success', 2),
  ('theirs', 'SPEC-KIT-1', 'plan', 'regular_stage', 'gemini', '2026-01-01 00:00:00',
   '2026-01-01 00:00:01', NULL, NULL);
)sql");
    }
    const auto dry = tree.run(Mode::dry_run);
    BOOST_TEST(dry.summary["rows_deleted"] == 3);
    BOOST_TEST(tree.query("SELECT count(*) FROM agent_executions") == 3);
    const auto result = tree.run();
    BOOST_TEST(result.summary["rows_deleted"] == 3);
    BOOST_TEST(tree.query("SELECT count(*) FROM agent_executions WHERE agent_id = 'new'") == 1);
    // Another writer's row is left to its own cleanup, unless the operator asks.
    BOOST_TEST(tree.query("SELECT count(*) FROM agent_executions WHERE agent_id = 'theirs'") == 1);
    BOOST_TEST(tree.query("SELECT count(*) FROM agent_executions") == 2);
    auto others = tree.options();
    others.rows_of_others = true;
    BOOST_TEST(tree.run(others).summary["rows_deleted"] == 1);
    BOOST_TEST(tree.query("SELECT count(*) FROM agent_executions") == 1);
    BOOST_TEST(tree.query("SELECT count(*) FROM spawn_batches") == 1);
    BOOST_TEST(tree.query("SELECT count(*) FROM spawn_metrics") == 1);
}

BOOST_AUTO_TEST_CASE(archive_is_purged_by_the_age_of_its_evidence)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 80);
    tree.run();
    const auto archive = archive_of(tree.root, "SPEC-KIT-100");
    // Nine days later the evidence is 89 days old: kept. Eleven days later: purged.
    BOOST_TEST(tree.run(Mode::run, now_s + 9 * day).of("purge").empty());
    BOOST_TEST(fs::exists(tree.root / archive));
    const auto later = tree.run(Mode::run, now_s + 11 * day);
    BOOST_TEST(later.of("purge").size() == 1u);
    BOOST_TEST(!fs::exists(tree.root / archive));
    BOOST_TEST(tree.query("SELECT count(*) FROM evidence_archives WHERE action = 'purge' AND "
                          "archive_path IS NOT NULL") == 1);
}

BOOST_AUTO_TEST_CASE(archive_is_purged_no_sooner_than_the_grace_after_it_was_made)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 89);
    tree.run();
    const auto archive = archive_of(tree.root, "SPEC-KIT-100");
    // Two days later the evidence is past the purge age, but the archive is two days old.
    auto options = tree.options();
    options.explain = true;
    const auto within = tree.run(options, now_s + 2 * day);
    BOOST_TEST(within.of("purge").empty());
    BOOST_TEST(fs::exists(tree.root / archive));
    BOOST_TEST(within.err.find("within the purge grace of 7d") != std::string::npos, within.err);
    // A shorter grace, or the archive's row made a week earlier, lets it go.
    auto short_grace = tree.options(Mode::dry_run);
    short_grace.policy.purge_grace = std::chrono::hours(24);
    BOOST_TEST(tree.run(short_grace, now_s + 2 * day).of("purge").size() == 1u);
    {
        auto db = common::Database::open(tree.db);
        db.exec("UPDATE evidence_archives SET created_at = datetime(created_at, '-8 days')");
    }
    BOOST_TEST(tree.run(Mode::run, now_s + 2 * day).of("purge").size() == 1u);
    BOOST_TEST(!fs::exists(tree.root / archive));
}

namespace {

// Without a database, an archive's grace runs from its inode's change time, which the kernel
// sets when it is made: these runs take the real clock as their "now".
std::int64_t real_now()
{
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// put() of a file `age_days` old at `now` rather than at the fixed test time.
void put_before(const fs::path& root, const std::string& relative, double age_days,
                std::int64_t now)
{
    put(root, relative, age_days - static_cast<double>(now - now_s) / day);
}

}  // namespace

BOOST_AUTO_TEST_CASE(without_a_database_archives_age_by_their_own_mtime)
{
    Tree tree;
    const auto now = real_now();
    put_before(tree.root, "consensus/SPEC-KIT-100/a.json", 80, now);
    auto options = tree.options();
    options.database.reset();
    tree.run(options, now);
    const auto archive = only_archive(tree.root);
    BOOST_TEST(!fs::exists(tree.db));
    BOOST_TEST(tree.run(options, now + 9 * day).of("purge").empty());
    BOOST_TEST(tree.run(options, now + 11 * day).of("purge").size() == 1u);
    BOOST_TEST(!fs::exists(tree.root / archive));
}

BOOST_AUTO_TEST_CASE(without_a_database_an_old_files_archive_keeps_its_purge_grace)
{
    Tree tree;
    const auto now = real_now();
    put_before(tree.root, "consensus/SPEC-KIT-100/a.json", 200, now);
    put_before(tree.root, "commands/SPEC-KIT-100/b.json", 120, now);
    auto options = tree.options();
    options.database.reset();
    options.explain = true;
    const auto first = tree.run(options, now);
    BOOST_TEST(first.code == 0, first.err);
    BOOST_TEST(first.summary["files_purged"] == 0);
    BOOST_TEST(first.summary["files_archived"] == 2);
    const auto archive = only_archive(tree.root);
    BOOST_TEST(archive_contents(tree.root / archive).size() == 2u);
    // Its mtime is the evidence's (120 days), yet it was made now: kept for the grace.
    const auto within = tree.run(options, now + 6 * day);
    BOOST_TEST(within.of("purge").empty());
    BOOST_TEST(within.err.find("within the purge grace of 7d") != std::string::npos, within.err);
    BOOST_TEST(fs::exists(tree.root / archive));
    const auto after = tree.run(options, now + 8 * day);
    BOOST_TEST(after.of("purge").size() == 1u);
    BOOST_TEST(after.summary["archives_purged"] == 1);
    BOOST_TEST(!fs::exists(tree.root / archive));
}

BOOST_AUTO_TEST_CASE(first_run_on_an_old_tree_archives_and_a_run_after_the_grace_purges)
{
    Tree tree;
    for (const auto* spec : {"SPEC-KIT-100", "SPEC-KIT-045-mini"}) {
        put(tree.root, fmt::format("consensus/{0}/{0}_plan_gemini_1.json", spec), 150);
        put(tree.root, fmt::format("commands/{0}/{0}_plan_telemetry_1.json", spec), 400);
    }
    const auto first = tree.run();
    BOOST_TEST(first.code == 0, first.err);
    BOOST_TEST(first.summary["files_purged"] == 0);
    BOOST_TEST(first.summary["archives_purged"] == 0);
    BOOST_TEST(first.summary["files_archived"] == 4);
    BOOST_TEST(first.of("archive").at(0)["reason"] == "age>90d, archived first");
    BOOST_TEST(tree.query("SELECT count(*) FROM evidence_archives WHERE action = 'purge'") == 0);
    // Within the grace, nothing is purged; a run after it (the rows moved back by eight days)
    // purges the archives.
    BOOST_TEST(tree.run(Mode::run, now_s + 6 * day).of("purge").empty());
    {
        auto db = common::Database::open(tree.db);
        db.exec("UPDATE evidence_archives SET created_at = datetime(created_at, '-8 days')");
    }
    const auto later = tree.run();
    BOOST_TEST(later.code == 0, later.err);
    BOOST_TEST(later.of("purge").size() == 2u);
    BOOST_TEST(later.summary["archives_purged"] == 2);
    BOOST_TEST(fs::is_empty(tree.root / "archives"));
}
