#define BOOST_TEST_MODULE evidence_prune_safety
#include <boost/test/unit_test.hpp>

#include "common/records.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"
#include "evidence_tree.hpp"

#include <cerrno>
#include <sys/file.h>
#include <sys/wait.h>

#include <functional>
#include <sstream>

namespace {

using namespace evidence_tree;

// A spawn batch for `spec` with one running agent, owned by `owner`.
void running_batch(const fs::path& db_path, const std::string& spec, common::ProcessIdentity owner)
{
    auto db = common::Database::open(db_path, {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    common::BatchRecord batch{.spec_id = spec,
                              .stage = "plan",
                              .run_id = std::nullopt,
                              .started_at = at(now_s - 3600),
                              .owner = owner};
    const common::AgentRecord agent{.agent_id = spec + "-a1",
                                    .agent_name = "gemini",
                                    .pid = owner.pid,
                                    .spawn_latency_us = 10,
                                    .spawned_at = at(now_s - 3600)};
    common::record_batch(db, batch, std::span(&agent, 1));
}

// The identity of a process that has exited and been reaped.
common::ProcessIdentity dead_process()
{
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return {child, 1};
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_writer_that_renames_over_a_file_mid_run_loses_nothing)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45, "old content");
    put(tree.root, "consensus/SPEC-KIT-100/b.json", 45, "b");
    auto options = tree.options();
    bool lock_was_held = false;
    options.crash_hook = [&](std::string_view point) {
        if (point != "archive-written") return;
        // The spec's lock is held while the spec is acted on.
        const auto lock = tree.root / ".locks/SPEC-KIT-100.lock";
        const int fd = ::open(lock.c_str(), O_RDWR);
        lock_was_held = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        ::close(fd);
        // A writer that ignores the lock renames a new version into place.
        write_file(tree.root / "consensus/SPEC-KIT-100/.a.json.new", "new content");
        fs::rename(tree.root / "consensus/SPEC-KIT-100/.a.json.new",
                   tree.root / "consensus/SPEC-KIT-100/a.json");
    };
    const auto result = tree.run(options);
    BOOST_TEST(lock_was_held);
    BOOST_TEST(file_bytes(tree.root / "consensus/SPEC-KIT-100/a.json") == "new content");
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/b.json"));
    const auto members = archive_contents(tree.root / "archives/SPEC-KIT-100-20260601.tar.gz");
    BOOST_TEST(members.at("consensus/SPEC-KIT-100/a.json") == "old content");
    BOOST_TEST(result.of("skip").at(0)["path"] == "consensus/SPEC-KIT-100/a.json");
}

BOOST_AUTO_TEST_CASE(a_file_put_under_the_archives_name_while_it_is_written_is_left_alone)
{
    // The archive's end is written on another thread: a file that someone puts under its
    // name meanwhile is neither replaced nor removed, and the originals stay.
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45, "a");
    put(tree.root, "consensus/SPEC-KIT-100/b.json", 45, "b");
    const auto theirs = tree.root / "archives/SPEC-KIT-100-20260601.tar.gz";
    auto options = tree.options();
    options.crash_hook = [&](std::string_view point) {
        if (point == "archive-written") write_file(theirs, "not ours");
    };
    const auto result = tree.run(options);
    BOOST_TEST(result.code == 1, result.err);
    BOOST_TEST(file_bytes(theirs) == "not ours");
    BOOST_TEST(file_bytes(tree.root / "consensus/SPEC-KIT-100/a.json") == "a");
    BOOST_TEST(file_bytes(tree.root / "consensus/SPEC-KIT-100/b.json") == "b");
    const auto archived = result.of("archive");
    BOOST_TEST_REQUIRE(archived.size() == 1u);
    BOOST_TEST(archived[0]["ok"] == false);
    BOOST_TEST(archived[0]["error"].get<std::string>().find("rename") != std::string::npos,
               archived[0].dump());
    BOOST_TEST(tree.query("SELECT COUNT(*) FROM evidence_archives") == 0);
    // No temporary file is left beside it.
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(tree.root / "archives"))
        ++entries;
    BOOST_TEST(entries == 1u);
}

BOOST_AUTO_TEST_CASE(apply_after_the_spec_turned_active_does_nothing_to_it)
{
    Tree tree;
    typical_tree(tree.root);
    auto plan = tree.options(Mode::plan);
    plan.plan_file = tree.dir / "plan.jsonl";
    BOOST_TEST_REQUIRE(tree.run(plan).code == 0);
    // After the plan: a new file in one spec, a held lock on the other.
    put(tree.root, "consensus/SPEC-KIT-100/SPEC-KIT-100_tasks_new.json", 0);
    fs::create_directories(tree.root / ".locks");
    const int fd = ::open((tree.root / ".locks/SPEC-OPS-200.lock").c_str(), O_RDWR | O_CREAT, 0644);
    BOOST_REQUIRE(::flock(fd, LOCK_EX) == 0);
    const auto before = snapshot(tree.root);
    auto apply = tree.options(Mode::apply);
    apply.plan_file = plan.plan_file;
    const auto result = tree.run(apply);
    ::close(fd);
    BOOST_TEST(result.code == 0, result.err);
    BOOST_TEST((snapshot(tree.root) == before));
    std::map<std::string, std::string> reasons;
    for (const auto& line : result.of("exempt"))
        reasons[line["spec"]] = line["reason"];
    BOOST_TEST(reasons["SPEC-KIT-100"].starts_with("active: modified"));
    BOOST_TEST(reasons["SPEC-OPS-200"] == "locked");
    BOOST_TEST(result.of("archive").empty());
    BOOST_TEST(result.of("purge").empty());
}

BOOST_AUTO_TEST_CASE(spec_with_a_running_agent_is_left_alone)
{
    Tree tree;
    typical_tree(tree.root);
    running_batch(tree.db, "SPEC-KIT-100", common::current_process());
    const auto result = tree.run();
    BOOST_TEST(!fs::exists(tree.root / "archives/SPEC-KIT-100-20260601.tar.gz"));
    BOOST_TEST(result.of("exempt").at(0)["reason"] == "active: agent run in progress");
    BOOST_TEST(tree.query("SELECT count(*) FROM agent_executions WHERE outcome = 'running'") == 1);
}

BOOST_AUTO_TEST_CASE(a_dead_spawners_run_is_lost_and_no_longer_keeps_its_spec_active)
{
    Tree tree;
    typical_tree(tree.root);
    running_batch(tree.db, "SPEC-KIT-100", dead_process());
    // A read-only run applies the rule without writing.
    const auto dry = tree.run(Mode::dry_run);
    BOOST_TEST(dry.of("archive").size() == 2u);
    BOOST_TEST(tree.query("SELECT count(*) FROM agent_executions WHERE outcome = 'running'") == 1);

    const auto result = tree.run();
    BOOST_TEST(result.code == 0, result.err);
    BOOST_TEST(tree.query("SELECT count(*) FROM agent_executions WHERE outcome = 'lost'") == 1);
    BOOST_TEST(fs::exists(tree.root / "archives/SPEC-KIT-100-20260601.tar.gz"));
}

BOOST_AUTO_TEST_CASE(another_writers_row_in_flight_keeps_its_spec_active_until_stale)
{
    Tree tree;
    typical_tree(tree.root);
    {
        // The upstream's shape: no toolkit columns, never migrated.
        auto db = common::Database::open(tree.db, {.mode = common::OpenMode::create});
        db.exec("CREATE TABLE agent_executions (agent_id TEXT PRIMARY KEY, spec_id TEXT, "
                "stage TEXT, phase_type TEXT, agent_name TEXT, run_id TEXT, spawned_at TEXT, "
                "completed_at TEXT, response_text TEXT, extraction_error TEXT)");
        db.exec(fmt::format("INSERT INTO agent_executions (agent_id, spec_id, spawned_at) VALUES "
                            "('u1', 'SPEC-KIT-100', '{}'), ('u2', 'SPEC-OPS-200', '{}')",
                            common::sql_timestamp(at(now_s - 3600)),
                            common::sql_timestamp(at(now_s - 3 * day))));
    }
    const auto result = tree.run(Mode::dry_run);
    BOOST_TEST(result.code == 0, result.err);
    std::map<std::string, std::string> reasons;
    for (const auto& line : result.of("exempt"))
        reasons[line["spec"]] = line["reason"];
    BOOST_TEST(reasons["SPEC-KIT-100"] == "active: agent run in progress");
    BOOST_TEST(!reasons.count("SPEC-OPS-200"));
    BOOST_TEST(result.of("archive").size() == 1u);
    BOOST_TEST(result.of("archive").at(0)["spec"] == "SPEC-OPS-200");
}

BOOST_AUTO_TEST_CASE(an_archive_without_the_checksum_list_is_reported_and_never_purged)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45, "evidence");
    fs::create_directories(tree.root / "archives");
    // A user's own GNU tar.gz under an archive-like name.
    BOOST_REQUIRE(
        test_support::run_process({"/bin/sh", "-c",
                                   "cd '" + tree.root.string() +
                                       "' && tar czf archives/SPEC-KIT-100-20250101.tar.gz "
                                       "consensus/SPEC-KIT-100/a.json"})
            .exit_code == 0);
    const auto bytes = file_bytes(tree.root / "archives/SPEC-KIT-100-20250101.tar.gz");
    const auto result = tree.run(Mode::run, now_s + 200 * day);
    BOOST_TEST(result.code == 0, result.err);
    BOOST_TEST(file_bytes(tree.root / "archives/SPEC-KIT-100-20250101.tar.gz") == bytes);
    bool reported = false;
    for (const auto& line : result.of("report"))
        reported |= line.value("archive", "") == "archives/SPEC-KIT-100-20250101.tar.gz";
    BOOST_TEST(reported);
    BOOST_TEST(tree.query("SELECT count(*) FROM evidence_archives WHERE archive_path = "
                          "'archives/SPEC-KIT-100-20250101.tar.gz'") == 0);
}

BOOST_AUTO_TEST_CASE(our_archive_with_a_flipped_byte_and_no_record_is_moved_aside)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45, std::string(4000, 'a'));
    put(tree.root, "consensus/SPEC-KIT-100/b.json", 45, std::string(4000, 'b'));
    const auto root = common::TreeRoot::open(tree.root);
    fs::create_directories(tree.root / "archives");
    std::vector<evidence_prune::FileRecord> files;
    for (const auto* name : {"consensus/SPEC-KIT-100/a.json", "consensus/SPEC-KIT-100/b.json"}) {
        const auto info = root.stat(name);
        files.push_back({name, info->size, info->mtime_ns, info->inode, info->mode});
    }
    const auto archive = tree.root / "archives/SPEC-KIT-100-20260501.tar.gz";
    evidence_prune::write_archive(root, "archives/SPEC-KIT-100-20260501.tar.gz", files);
    fs::remove(tree.root / "consensus/SPEC-KIT-100/a.json");
    fs::remove(tree.root / "consensus/SPEC-KIT-100/b.json");
    auto bytes = file_bytes(archive);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
    write_file(archive, bytes);
    const auto result = tree.run(Mode::run, now_s + 200 * day);
    BOOST_TEST(result.code == 1, result.err);
    BOOST_TEST(!fs::exists(archive));
    BOOST_TEST(file_bytes(tree.root / "archives/.unverified/SPEC-KIT-100-20260501.tar.gz") ==
               bytes);
}

namespace {

// A plan of the typical tree with `edit` applied to each action line, then --apply of it:
// the exit code the refusal carries, or the run's.
int apply_edited_plan(const Tree& tree, const std::function<void(json&)>& edit)
{
    auto plan = tree.options(Mode::plan);
    plan.plan_file = tree.dir / "plan.jsonl";
    BOOST_REQUIRE(tree.run(plan).code == 0);
    std::istringstream lines(file_bytes(plan.plan_file));
    std::string edited;
    int number = 0;
    for (std::string line; std::getline(lines, line);) {
        auto parsed = json::parse(line);
        if (number++ > 0) edit(parsed);
        edited += parsed.dump() + "\n";
    }
    write_file(plan.plan_file, edited);
    auto apply = tree.options(Mode::apply);
    apply.plan_file = plan.plan_file;
    try {
        return tree.run(apply).code;
    } catch (const common::Error& error) {
        return static_cast<int>(error.code());
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_edited_plan_that_reaches_beyond_its_spec_is_refused_and_changes_nothing)
{
    for (const auto* archive : {"consensus/SPEC-YO-1/EVIL.tar.gz", ".locks/EVIL.tar.gz",
                                "archives/SPEC-OPS-200-20260601.tar.gz", "archives/EVIL.tar.gz"}) {
        Tree tree;
        typical_tree(tree.root);
        const auto before = snapshot(tree.root);
        const int code = apply_edited_plan(tree, [&](json& line) {
            if (line["action"] == "archive") line["archive"] = archive;
        });
        BOOST_TEST(code == 65, archive);
        BOOST_TEST((snapshot(tree.root) == before), archive);
        // Refused before the database was opened for writing.
        BOOST_TEST(!fs::exists(tree.db), archive);
    }
}

// A fresh run never purges loose files (they are archived first), so a plan may not either.
BOOST_AUTO_TEST_CASE(an_edited_plan_purging_loose_files_is_refused_and_changes_nothing)
{
    Tree tree;
    typical_tree(tree.root);
    const auto before = snapshot(tree.root);
    const int code = apply_edited_plan(tree, [&](json& line) {
        if (line["action"] == "archive") {
            line["action"] = "purge";
            line.erase("archive");
        }
    });
    BOOST_TEST(code == 65);
    BOOST_TEST((snapshot(tree.root) == before));
    BOOST_TEST(!fs::exists(tree.db));
}

BOOST_AUTO_TEST_CASE(a_plan_deleting_rows_newer_than_the_purge_age_is_refused)
{
    Tree tree;
    typical_tree(tree.root);
    {
        auto db = common::Database::open(tree.db, {.mode = common::OpenMode::create});
        common::schema::migrate(db);
        db.exec(fmt::format("INSERT INTO spawn_batches (batch_id, spec_id, stage, mode, "
                            "agent_count, started_at, finished_at, owner_pid, owner_start) VALUES "
                            "(1, 'SPEC-KIT-1', 'plan', 'parallel', 1, '{0}', '{0}', 1, 1)",
                            common::sql_timestamp(at(now_s - 200 * day))));
    }
    const int code = apply_edited_plan(tree, [&](json& line) {
        if (line["action"] == "delete-rows") line["cutoff_ns"] = (now_s + 30 * day) * 1'000'000'000;
    });
    BOOST_TEST(code == 65);
    BOOST_TEST(tree.query("SELECT count(*) FROM spawn_batches") == 1);
}

BOOST_AUTO_TEST_CASE(recovery_after_a_crash_finishes_the_removal_of_files_with_nanosecond_mtimes)
{
    Tree tree;
    for (const auto* name : {"consensus/SPEC-KIT-100/a.json", "consensus/SPEC-KIT-100/b.json"}) {
        put(tree.root, name, 45);
        const timespec times[2] = {{now_s - 45 * day, 123456789}, {now_s - 45 * day, 987654321}};
        BOOST_REQUIRE(::utimensat(AT_FDCWD, (tree.root / name).c_str(), times, 0) == 0);
    }
    // What a run killed after the rename leaves: the archive, the originals, no record.
    const auto root = common::TreeRoot::open(tree.root);
    fs::create_directories(tree.root / "archives");
    std::vector<evidence_prune::FileRecord> files;
    for (const auto* name : {"consensus/SPEC-KIT-100/a.json", "consensus/SPEC-KIT-100/b.json"}) {
        const auto info = root.stat(name);
        files.push_back({name, info->size, info->mtime_ns, info->inode, info->mode});
    }
    evidence_prune::write_archive(root, "archives/SPEC-KIT-100-20260531.tar.gz", files);
    const auto result = tree.run();
    BOOST_TEST(result.code == 0, result.err);
    BOOST_TEST(result.of("recover").at(0)["originals_removed"] == 2);
    BOOST_TEST(result.of("archive").empty());
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/a.json"));
    BOOST_TEST(only_archive(tree.root) == "archives/SPEC-KIT-100-20260531.tar.gz");
}

BOOST_AUTO_TEST_CASE(an_upstream_shaped_tree_is_archived_by_folder_with_one_synthesis_per_stage)
{
    Tree tree;
    const std::string mini = "consensus/SPEC-KIT-045-mini/";
    const std::string conflict = "commands/SPEC-KIT-025-add-automated-conflict-resolution-with/";
    for (const auto* stage : {"plan", "tasks", "implement", "validate", "audit", "unlock"}) {
        put(tree.root, mini + stage + "_20251001_synthesis.json", 60);
        put(tree.root, mini + stage + "_20251010_synthesis.json", 50);
        put(tree.root, mini + stage + "_gemini_20251010.json", 50);
    }
    put(tree.root, conflict + "spec-plan_20251010_telemetry.json", 40);
    put(tree.root, conflict + "spec-plan_20251011_cost.json", 41);
    put(tree.root, "consensus/SPEC-KIT-070-active/plan_20251010_synthesis.json", 1);
    put(tree.root, "consensus/Not-A-Spec/plan.json", 60);
    const auto result = tree.run();
    BOOST_TEST(result.code == 0, result.err);

    const auto mini_archive =
        archive_contents(tree.root / "archives/SPEC-KIT-045-mini-20260601.tar.gz");
    BOOST_TEST(mini_archive.size() == 12u);
    for (const auto* stage : {"plan", "tasks", "implement", "validate", "audit", "unlock"}) {
        // The newest synthesis of every stage is left, the older one and the rest archived.
        BOOST_TEST(fs::exists(tree.root / (mini + stage + "_20251010_synthesis.json")), stage);
        BOOST_TEST(mini_archive.count(mini + stage + "_20251001_synthesis.json") == 1u, stage);
        BOOST_TEST(mini_archive.count(mini + stage + "_gemini_20251010.json") == 1u, stage);
    }
    const auto conflict_archive = archive_contents(
        tree.root / "archives/SPEC-KIT-025-add-automated-conflict-resolution-with-20260601.tar.gz");
    BOOST_TEST(conflict_archive.size() == 2u);
    BOOST_TEST(!fs::exists(tree.root / conflict));
    // Active: left; not a spec folder: reported and left.
    BOOST_TEST(
        fs::exists(tree.root / "consensus/SPEC-KIT-070-active/plan_20251010_synthesis.json"));
    BOOST_TEST(fs::exists(tree.root / "consensus/Not-A-Spec/plan.json"));
    bool reported = false;
    for (const auto& line : result.of("report"))
        reported |= line.value("path", "") == "consensus/Not-A-Spec";
    BOOST_TEST(reported);
}

namespace {

// Writes root/relative, `age_days` old by the real clock: the tool run as a process reads it.
void put_real(const fs::path& root, const std::string& relative, int age_days)
{
    put(root, relative, 0);
    const timespec times[2] = {{::time(nullptr) - age_days * day, 0},
                               {::time(nullptr) - age_days * day, 0}};
    BOOST_REQUIRE(::utimensat(AT_FDCWD, (root / relative).c_str(), times, 0) == 0);
}

// A run of the test build that receives `signal` once its first archive is written.
void check_signal_after_the_first_archive(const std::string& hook, int signal,
                                          const std::string& name)
{
    Tree tree;
    const std::vector<std::string> files{
        "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json",
        "commands/SPEC-KIT-100/SPEC-KIT-100_plan_telemetry_1.json",
        "consensus/SPEC-OPS-200/SPEC-OPS-200_audit_code_1.json",
        "commands/SPEC-OPS-200/SPEC-OPS-200_audit_telemetry_1.json"};
    for (const auto& file : files)
        put_real(tree.root, file, 40);
    auto env = test_support::isolated_environment(tree.dir);
    env["SPEC_HYGIENE_TEST_SIGNAL_AT"] = hook;
    const auto result = test_support::run_process(
        {EVIDENCE_PRUNE_TEST_BIN, "--evidence", tree.root.string(), "--db", tree.db.string()}, {},
        env);
    BOOST_TEST(result.exit_code == 128 + signal, result.err);
    // The summary is the last line, and says why the run stopped.
    const auto last = result.out.rfind('\n', result.out.size() - 2);
    const auto summary = json::parse(result.out.substr(last == std::string::npos ? 0 : last + 1));
    BOOST_TEST(summary.value("interrupted", "") == name);
    BOOST_TEST(tree.query("SELECT count(*) FROM maintenance_runs") == 1);
    BOOST_TEST(tree.query("SELECT count(*) FROM evidence_archives WHERE action = 'archive'") == 1);
    // The archive made is recorded and its originals gone; the other spec is untouched.
    std::size_t archives = 0;
    for (const auto& entry : fs::directory_iterator(tree.root / "archives"))
        archives += entry.path().filename().string().ends_with(".tar.gz");
    BOOST_TEST(archives == 1u);
    std::size_t left = 0;
    for (const auto& file : files)
        left += fs::exists(tree.root / file);
    BOOST_TEST(left == 2u);
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigterm_mid_run_records_what_was_done_and_exits_143)
{
    check_signal_after_the_first_archive("archive-written", SIGTERM, "SIGTERM");
}

BOOST_AUTO_TEST_CASE(sigint_mid_run_records_what_was_done_and_exits_130)
{
    check_signal_after_the_first_archive("archive-written:INT", SIGINT, "SIGINT");
}
