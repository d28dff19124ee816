#define BOOST_TEST_MODULE evidence_prune_core
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

BOOST_AUTO_TEST_CASE(real_run_archives_verifies_and_exempts_as_the_policy_says)
{
    Tree tree;
    typical_tree(tree.root);
    const auto before = snapshot(tree.root);
    const auto result = tree.run();
    BOOST_TEST(result.code == 0, result.err);

    const auto archive = archive_of(tree.root, "SPEC-KIT-100");
    BOOST_TEST(archive == "archives/SPEC-KIT-100-20260601.tar.gz");
    const auto members = archive_contents(tree.root / archive);
    BOOST_TEST(members.size() == 4u);
    for (const auto& [path, content] : members) {
        BOOST_TEST(!fs::exists(tree.root / path), path << " still in the tree");
        BOOST_TEST(before.at(path).ends_with(content));
    }
    // The newest synthesis stays; the older one is archived.
    BOOST_TEST(fs::exists(tree.root / "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_synthesis_2.json"));
    BOOST_TEST(members.count("consensus/SPEC-KIT-100/SPEC-KIT-100_plan_synthesis_1.json") == 1u);
    // Past the purge age: archived first, never purged loose.
    BOOST_TEST(archive_contents(tree.root / archive_of(tree.root, "SPEC-OPS-200")).size() == 2u);
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-OPS-200/SPEC-OPS-200_audit_code_1.json"));
    BOOST_TEST(tree.query("SELECT count(*) FROM evidence_archives WHERE action = 'purge'") == 0);
    // Active: untouched.
    BOOST_TEST(fs::exists(tree.root / "consensus/SPEC-NEW-300/SPEC-NEW-300_tasks_code_0.json"));

    BOOST_TEST(result.summary["files_archived"] == 6);
    BOOST_TEST(result.summary["files_purged"] == 0);
    BOOST_TEST(result.summary["exempted_specs"] == json::array({"SPEC-NEW-300"}));
    BOOST_TEST(result.of("exempt").at(0)["reason"] == "active: modified 2d ago");
}

BOOST_AUTO_TEST_CASE(archive_is_private_recorded_with_its_checksum_and_evidence_time)
{
    Tree tree;
    typical_tree(tree.root);
    tree.run();
    const auto archive = tree.root / archive_of(tree.root, "SPEC-KIT-100");
    struct stat status {};
    BOOST_REQUIRE(::stat(archive.c_str(), &status) == 0);
    BOOST_TEST((status.st_mode & 07777) == 0600u);
    const auto db = common::Database::open(tree.db, {.mode = common::OpenMode::read_only});
    const auto rows = db.query_rows(
        "SELECT sha256, evidence_time, file_count, bytes_after FROM evidence_archives "
        "WHERE action = 'archive' AND spec_id = 'SPEC-KIT-100'");
    BOOST_REQUIRE_EQUAL(rows.size(), 1u);
    BOOST_TEST(std::get<std::string>(rows[0][0]) == common::sha256_file(archive));
    // The newest member is 40 days old.
    BOOST_TEST(std::get<std::string>(rows[0][1]) == "2026-04-22 00:00:00");
    BOOST_TEST(std::get<std::int64_t>(rows[0][2]) == 4);
    BOOST_TEST(std::get<std::int64_t>(rows[0][3]) ==
               static_cast<std::int64_t>(fs::file_size(archive)));
}

BOOST_AUTO_TEST_CASE(archive_ends_with_a_checksum_list_sha256sum_accepts)
{
    Tree tree;
    typical_tree(tree.root);
    put(tree.root, "consensus/SPEC-KIT-100/odd\\name\nhere.json", 45);
    tree.run();
    const auto archive = tree.root / archive_of(tree.root, "SPEC-KIT-100");
    const auto members = archive_contents(archive, true);
    BOOST_REQUIRE_EQUAL(members.count(std::string(evidence_prune::manifest_name)), 1u);
    fs::create_directories(tree.dir / "x");
    BOOST_REQUIRE(
        test_support::run_process({"tar", "xzf", archive.string(), "-C", (tree.dir / "x").string()})
            .exit_code == 0);
    const auto check = test_support::run_process(
        {"sh", "-c", "cd \"$1\" && sha256sum --check --quiet .spec-hygiene.sha256", "sh",
         (tree.dir / "x").string()});
    BOOST_TEST(check.exit_code == 0, check.out << check.err);
    BOOST_TEST(members.size() == 6u);
}

BOOST_AUTO_TEST_CASE(dry_run_changes_nothing_and_lists_the_actions_the_run_then_takes)
{
    Tree tree;
    typical_tree(tree.root);
    const auto before = snapshot(tree.root);
    const auto dry = tree.run(Mode::dry_run);
    BOOST_TEST(dry.code == 0);
    BOOST_TEST((snapshot(tree.root) == before));
    BOOST_TEST(!fs::exists(tree.db));

    const auto real = tree.run();
    const auto essentials = [](const Result& result) {
        std::vector<json> actions;
        for (const auto& line : result.lines) {
            json kept;
            for (const auto* key :
                 {"action", "spec", "archive", "files", "bytes", "reason", "path"})
                if (line.contains(key)) kept[key] = line[key];
            actions.push_back(kept);
        }
        return actions;
    };
    BOOST_TEST(essentials(dry) == essentials(real));
    BOOST_TEST(dry.summary["files_archived"] == real.summary["files_archived"]);
    BOOST_TEST(dry.summary["files_purged"] == real.summary["files_purged"]);
}

BOOST_AUTO_TEST_CASE(second_run_does_nothing)
{
    Tree tree;
    typical_tree(tree.root);
    tree.run();
    const auto before = snapshot(tree.root);
    const auto again = tree.run();
    BOOST_TEST(again.code == 0);
    BOOST_TEST(again.of("archive").empty());
    BOOST_TEST(again.of("purge").empty());
    BOOST_TEST(again.summary["bytes_reclaimed"] == 0);
    BOOST_TEST((snapshot(tree.root) == before));
}

BOOST_AUTO_TEST_CASE(locked_spec_is_left_alone)
{
    Tree tree;
    typical_tree(tree.root);
    fs::create_directories(tree.root / ".locks");
    const auto lock = tree.root / ".locks/SPEC-KIT-100.lock";
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
    BOOST_REQUIRE(::flock(fd, LOCK_EX) == 0);
    const auto result = tree.run();
    ::close(fd);
    BOOST_TEST(!fs::exists(tree.root / "archives/SPEC-KIT-100-20260601.tar.gz"));
    BOOST_TEST(fs::exists(tree.root / "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json"));
    BOOST_TEST(result.of("exempt").at(0)["spec"] == "SPEC-KIT-100");
    BOOST_TEST(result.of("exempt").at(0)["reason"] == "locked");
}

BOOST_AUTO_TEST_CASE(unreadable_lock_counts_as_held)
{
    Tree tree;
    typical_tree(tree.root);
    fs::create_directories(tree.root / ".locks");
    // A symlink in place of the lock file: the probe cannot tell, so the spec is skipped.
    fs::create_symlink("/nonexistent", tree.root / ".locks/SPEC-OPS-200.lock");
    const auto result = tree.run();
    BOOST_TEST(fs::exists(tree.root / "consensus/SPEC-OPS-200/SPEC-OPS-200_audit_code_1.json"));
    bool exempted = false;
    for (const auto& line : result.of("exempt"))
        exempted |= line["spec"] == "SPEC-OPS-200" && line["reason"] == "locked";
    BOOST_TEST(exempted);
}

BOOST_AUTO_TEST_CASE(protected_spec_is_left_alone)
{
    Tree tree;
    typical_tree(tree.root);
    auto options = tree.options();
    options.protect = {"SPEC-OPS-200"};
    const auto result = tree.run(options);
    BOOST_TEST(fs::exists(tree.root / "consensus/SPEC-OPS-200/SPEC-OPS-200_audit_code_1.json"));
    BOOST_TEST(!fs::exists(tree.root / "archives/SPEC-OPS-200-20260601.tar.gz"));
}

BOOST_AUTO_TEST_CASE(future_mtimes_are_not_old)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/old.json", 200);
    put(tree.root, "consensus/SPEC-KIT-100/future.json", -30);
    const auto result = tree.run();
    BOOST_TEST(fs::exists(tree.root / "consensus/SPEC-KIT-100/future.json"));
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/old.json"));
    BOOST_TEST(result.of("keep").at(0)["reason"] == "future mtime");
}

BOOST_AUTO_TEST_CASE(symlink_to_a_file_outside_the_root_is_reported_and_left)
{
    Tree tree;
    write_file(tree.dir / "outside.json", "secret");
    const timespec old[2] = {{now_s - 200 * day, 0}, {now_s - 200 * day, 0}};
    ::utimensat(AT_FDCWD, (tree.dir / "outside.json").c_str(), old, 0);
    put(tree.root, "consensus/SPEC-KIT-100/real.json", 45);
    fs::create_symlink(tree.dir / "outside.json", tree.root / "consensus/SPEC-KIT-100/link.json");
    fs::create_symlink(tree.dir.path(), tree.root / "commands");
    const auto result = tree.run();
    BOOST_TEST(result.code == 0);
    BOOST_TEST(file_bytes(tree.dir / "outside.json") == "secret");
    BOOST_TEST(fs::is_symlink(tree.root / "consensus/SPEC-KIT-100/link.json"));
    BOOST_TEST(fs::is_symlink(tree.root / "commands"));
    const auto members = archive_contents(tree.root / archive_of(tree.root, "SPEC-KIT-100"));
    BOOST_TEST(members.size() == 1u);
    BOOST_TEST(members.count("consensus/SPEC-KIT-100/real.json") == 1u);
    int reported = 0;
    for (const auto& line : result.of("report"))
        reported += line["reason"] == "symlink, not followed";
    BOOST_TEST(reported == 2);
}

BOOST_AUTO_TEST_CASE(unknown_entries_are_reported_and_left)
{
    Tree tree;
    put(tree.root, "notes.txt", 400);
    put(tree.root, "consensus/not-a-spec/x.json", 400);
    put(tree.root, "archives/random.zip", 400);
    const auto before = snapshot(tree.root);
    const auto result = tree.run();
    BOOST_TEST(result.code == 0);
    BOOST_TEST((snapshot(tree.root) == before));
    BOOST_TEST(result.of("report").size() == 3u);
}

BOOST_AUTO_TEST_CASE(odd_names_survive_archive_and_restore)
{
    Tree tree;
    const std::vector<std::string> names{"consensus/SPEC-KIT-100/with space.json",
                                         "consensus/SPEC-KIT-100/new\nline.json",
                                         "consensus/SPEC-KIT-100/latin1-\xe9\xff.json"};
    for (const auto& name : names)
        put(tree.root, name, 45, "content of " + name);
    const auto before = snapshot(tree.root);
    BOOST_TEST(tree.run().code == 0);
    for (const auto& name : names)
        BOOST_TEST(!fs::exists(tree.root / name));

    auto options = tree.options(Mode::restore);
    options.restore_archive = tree.root / archive_of(tree.root, "SPEC-KIT-100");
    const auto restored = tree.run(options);
    BOOST_TEST(restored.code == 0);
    BOOST_TEST(restored.summary["files_restored"] == 3);
    auto after = snapshot(tree.root);
    for (const auto& name : names)
        BOOST_TEST(after[name] == before.at(name));
}

BOOST_AUTO_TEST_CASE(restore_gives_byte_identical_files_with_modes_and_mtimes)
{
    Tree tree;
    typical_tree(tree.root);
    fs::permissions(tree.root / "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json",
                    fs::perms::owner_read);
    const auto before = snapshot(tree.root);
    tree.run();
    auto options = tree.options(Mode::restore);
    options.restore_archive = tree.root / archive_of(tree.root, "SPEC-KIT-100");
    BOOST_TEST(tree.run(options).code == 0);
    auto after = snapshot(tree.root);
    for (const auto& [path, state] : before)
        if (path.starts_with("co") && path.find("SPEC-KIT-100_") != std::string::npos)
            BOOST_TEST(after[path] == state, path);
}

BOOST_AUTO_TEST_CASE(restore_refuses_to_overwrite_and_writes_nothing)
{
    Tree tree;
    typical_tree(tree.root);
    tree.run();
    put(tree.root, "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json", 1, "newer work");
    auto options = tree.options(Mode::restore);
    options.restore_archive = tree.root / archive_of(tree.root, "SPEC-KIT-100");
    try {
        tree.run(options);
        BOOST_FAIL("expected a refusal");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 73);
    }
    BOOST_TEST(file_bytes(tree.root / "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json") ==
               "newer work");
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_claude_1.json"));
}

BOOST_AUTO_TEST_CASE(restore_never_writes_through_a_symlinked_folder)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45);
    tree.run();
    fs::remove_all(tree.root / "consensus/SPEC-KIT-100");
    fs::create_directories(tree.dir / "elsewhere");
    fs::create_symlink(tree.dir / "elsewhere", tree.root / "consensus/SPEC-KIT-100");
    auto options = tree.options(Mode::restore);
    options.restore_archive = tree.root / archive_of(tree.root, "SPEC-KIT-100");
    BOOST_CHECK_THROW(tree.run(options), common::Error);
    BOOST_TEST(fs::is_empty(tree.dir / "elsewhere"));
}

BOOST_AUTO_TEST_CASE(restore_refuses_an_archive_whose_checksum_differs_from_its_record)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45);
    tree.run();
    const auto archive = tree.root / archive_of(tree.root, "SPEC-KIT-100");
    {
        auto db = common::Database::open(tree.db);
        db.exec("UPDATE evidence_archives SET sha256 = 'ab' || substr(sha256, 3)");
    }
    auto options = tree.options(Mode::restore);
    options.restore_archive = archive;
    try {
        tree.run(options);
        BOOST_FAIL("expected a refusal");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 65);
    }
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/a.json"));
}

BOOST_AUTO_TEST_CASE(check_exits_2_over_a_spec_limit_and_0_under)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/big.json", 1, std::string(300 * 1024, 'x'));
    auto options = tree.options(Mode::check);
    options.policy.warn_bytes = 100 * 1024;
    options.policy.limit_bytes = 200 * 1024;
    const auto over = tree.run(options);
    BOOST_TEST(over.code == 2);
    BOOST_TEST(over.summary["limit_passed"] == true);
    BOOST_TEST(over.summary["specs"]["SPEC-KIT-100"] == 300 * 1024);
    options.policy.limit_bytes = 400 * 1024;
    const auto under = tree.run(options);
    BOOST_TEST(under.code == 0);
    BOOST_TEST(under.summary["warnings"].size() == 1u);
}

BOOST_AUTO_TEST_CASE(check_exits_2_over_the_total_limit)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 1, std::string(60 * 1024, 'x'));
    put(tree.root, "consensus/SPEC-KIT-200/a.json", 1, std::string(60 * 1024, 'x'));
    auto options = tree.options(Mode::check);
    options.policy.total_limit_bytes = 100 * 1024;
    BOOST_TEST(tree.run(options).code == 2);
}

BOOST_AUTO_TEST_CASE(apply_skips_a_file_changed_after_the_plan)
{
    Tree tree;
    typical_tree(tree.root);
    auto options = tree.options(Mode::plan);
    options.plan_file = tree.dir / "plan.jsonl";
    const auto before = snapshot(tree.root);
    BOOST_TEST(tree.run(options).code == 0);
    BOOST_TEST((snapshot(tree.root) == before));

    const auto changed = tree.root / "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json";
    put(tree.root, "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json", 40, "changed!");
    options.mode = Mode::apply;
    const auto applied = tree.run(options);
    BOOST_TEST(applied.code == 1);
    BOOST_TEST(file_bytes(changed) == "changed!");
    const auto skipped = applied.of("skip");
    BOOST_REQUIRE_EQUAL(skipped.size(), 1u);
    BOOST_TEST(skipped[0]["path"] == "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json");
    // The rest of the plan was carried out.
    BOOST_TEST(archive_contents(tree.root / archive_of(tree.root, "SPEC-KIT-100")).size() == 3u);
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-OPS-200/SPEC-OPS-200_audit_code_1.json"));
    BOOST_TEST(fs::exists(tree.root / "archives/SPEC-OPS-200-20260601.tar.gz"));
}

BOOST_AUTO_TEST_CASE(apply_refuses_a_plan_for_another_root_and_changes_nothing)
{
    Tree tree;
    typical_tree(tree.root);
    write_file(tree.dir / "plan.jsonl",
               R"({"tool":"evidence-prune","kind":"plan","schema_version":1,"root":"/elsewhere"})"
               "\n");
    auto options = tree.options(Mode::apply);
    options.plan_file = tree.dir / "plan.jsonl";
    const auto before = snapshot(tree.root);
    BOOST_CHECK_THROW(tree.run(options), common::Error);
    BOOST_TEST((snapshot(tree.root) == before));
}

BOOST_AUTO_TEST_CASE(taken_archive_name_gets_a_number)
{
    Tree tree;
    put(tree.root, "archives/SPEC-KIT-100-20260601.tar.gz", 1, "someone else's");
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45);
    auto options = tree.options();
    options.database.reset();
    const auto result = tree.run(options);
    BOOST_TEST(result.of("archive").at(0)["archive"] == "archives/SPEC-KIT-100-20260601-2.tar.gz");
    BOOST_TEST(file_bytes(tree.root / "archives/SPEC-KIT-100-20260601.tar.gz") == "someone else's");
}

BOOST_AUTO_TEST_CASE(archive_without_a_record_is_verified_recorded_and_finished)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45);
    put(tree.root, "consensus/SPEC-KIT-100/b.json", 46);
    // What a run killed between rename and record leaves: the archive, the originals, no row.
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
    BOOST_TEST(result.of("recover").size() == 1u);
    BOOST_TEST(result.of("archive").empty());
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/a.json"));
    BOOST_TEST(archive_contents(tree.root / "archives/SPEC-KIT-100-20260531.tar.gz").size() == 2u);
    BOOST_TEST(tree.query("SELECT count(*) FROM evidence_archives WHERE action = 'archive' AND "
                          "archive_path = 'archives/SPEC-KIT-100-20260531.tar.gz'") == 1);
}

BOOST_AUTO_TEST_CASE(damaged_archive_without_a_record_is_moved_aside_and_the_files_archived_again)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45);
    put(tree.root, "archives/SPEC-KIT-100-20260531.tar.gz", 5, "not gzip at all");
    const auto result = tree.run();
    BOOST_TEST(result.code == 1, result.err);
    BOOST_TEST(!fs::exists(tree.root / "archives/SPEC-KIT-100-20260531.tar.gz"));
    BOOST_TEST(file_bytes(tree.root / "archives/.unverified/SPEC-KIT-100-20260531.tar.gz") ==
               "not gzip at all");
    BOOST_TEST(result.of("recover").at(0)["moved_to"] ==
               "archives/.unverified/SPEC-KIT-100-20260531.tar.gz");
    BOOST_TEST(archive_contents(tree.root / "archives/SPEC-KIT-100-20260601.tar.gz").size() == 1u);
    // Never deleted on a later run either, however old.
    BOOST_TEST(tree.run(Mode::run, now_s + 400 * day).code == 0);
    BOOST_TEST(fs::exists(tree.root / "archives/.unverified/SPEC-KIT-100-20260531.tar.gz"));
}

BOOST_AUTO_TEST_CASE(temporaries_of_an_interrupted_run_and_stale_ones_of_writers_are_removed)
{
    Tree tree;
    put(tree.root, "archives/.SPEC-KIT-100-20260601.tar.gz.Ab12Cd.tmp", 0, "half");
    put(tree.root, "consensus/SPEC-KIT-100/.a.json.Xy34Zw.tmp", 2, "a killed writer's");
    put(tree.root, "consensus/SPEC-KIT-100/.b.json.Qr56St.tmp", 0.5, "a live writer's");
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45);
    const auto result = tree.run();
    BOOST_TEST(result.code == 0, result.err);
    BOOST_TEST(result.of("clean").size() == 2u);
    BOOST_TEST(!fs::exists(tree.root / "archives/.SPEC-KIT-100-20260601.tar.gz.Ab12Cd.tmp"));
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/.a.json.Xy34Zw.tmp"));
    BOOST_TEST(fs::exists(tree.root / "consensus/SPEC-KIT-100/.b.json.Qr56St.tmp"));
    BOOST_TEST(result.of("archive").at(0)["archive"] == "archives/SPEC-KIT-100-20260601.tar.gz");
    // A temporary is never evidence.
    const auto members = archive_contents(tree.root / "archives/SPEC-KIT-100-20260601.tar.gz");
    BOOST_TEST(members.size() == 1u);
    BOOST_TEST(members.count("consensus/SPEC-KIT-100/a.json") == 1u);
}

BOOST_AUTO_TEST_CASE(a_file_that_merely_ends_like_an_old_temporary_is_the_users)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/.a.json.evidence-prune-partial", 45, "mine");
    put(tree.root, "consensus/SPEC-OPS-200/.b.json.evidence-prune-partial", 45, "mine too");
    put(tree.root, "consensus/SPEC-OPS-200/.c.json.Xy34Zw.tmp", 45, "protected");
    auto options = tree.options();
    options.protect = {"SPEC-OPS-200"};
    const auto result = tree.run(options);
    BOOST_TEST(result.code == 0, result.err);
    BOOST_TEST(result.of("clean").empty());
    BOOST_TEST(file_bytes(tree.root / "consensus/SPEC-OPS-200/.b.json.evidence-prune-partial") ==
               "mine too");
    BOOST_TEST(fs::exists(tree.root / "consensus/SPEC-OPS-200/.c.json.Xy34Zw.tmp"));
    const auto members = archive_contents(tree.root / "archives/SPEC-KIT-100-20260601.tar.gz");
    BOOST_TEST(members.at("consensus/SPEC-KIT-100/.a.json.evidence-prune-partial") == "mine");
}

BOOST_AUTO_TEST_CASE(second_instance_on_the_same_root_is_refused_with_75)
{
    Tree tree;
    typical_tree(tree.root);
    const int fd = ::open(tree.root.c_str(), O_RDONLY | O_DIRECTORY);
    BOOST_REQUIRE(::flock(fd, LOCK_EX) == 0);
    try {
        tree.run();
        BOOST_FAIL("expected exit 75");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 75);
    }
    ::close(fd);
    BOOST_TEST(!fs::exists(tree.root / "archives"));
}
