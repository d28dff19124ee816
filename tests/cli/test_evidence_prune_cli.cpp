#define BOOST_TEST_MODULE test_cli_evidence_prune
#include <boost/test/unit_test.hpp>

#include "evidence_prune_cli.hpp"

using namespace evidence_prune_cli;

BOOST_AUTO_TEST_CASE(help_lists_the_options_and_exits_0)
{
    Sandbox box;
    const auto result = box.prune({"--help"});
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(result.out.find("--archive-after") != std::string::npos);
    BOOST_TEST(result.out.find("--restore") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_usage_exits_64_and_changes_nothing)
{
    Sandbox box;
    const auto before = snapshot(box.root);
    for (const auto& args : std::vector<std::vector<std::string>>{{"--no-such-flag"},
                                                                  {"--archive-after", "soon"},
                                                                  {"--purge-after", "10d"},
                                                                  {"--protect", "not-a-spec"},
                                                                  {"--check", "--dry-run"}}) {
        const auto result = box.prune(args);
        BOOST_TEST(result.exit_code == 64, args.front() << ": " << result.err);
    }
    BOOST_TEST((snapshot(box.root) == before));
}

BOOST_AUTO_TEST_CASE(a_run_with_nothing_to_do_is_recorded_as_a_success_and_a_dry_run_is_not)
{
    Sandbox box;
    BOOST_TEST_REQUIRE(box.prune({}).exit_code == 0);
    const auto again = box.prune({});
    BOOST_TEST_REQUIRE(again.exit_code == 0, again.err);
    const auto dry = box.prune({"--dry-run"});
    BOOST_TEST_REQUIRE(dry.exit_code == 0, dry.err);
    // The daily job's last success comes from these rows: a quiet day is a success too.
    const auto db = common::Database::open(box.db, {.mode = common::OpenMode::read_only});
    BOOST_TEST(db.query_int("SELECT count(*) FROM maintenance_runs WHERE tool = "
                            "'evidence-prune' AND outcome = 'ok'") == 2);
}

BOOST_AUTO_TEST_CASE(bad_configuration_exits_78)
{
    Sandbox box;
    fs::create_directories(box.dir / "config/spec-hygiene");
    write_file(box.dir / "config/spec-hygiene/config.json",
               R"({"evidence-prune": {"purge_days": "ninety"}})");
    BOOST_TEST(box.prune({"--dry-run"}).exit_code == 78);
}

BOOST_AUTO_TEST_CASE(protect_repeats_and_a_contradiction_in_the_configuration_is_78)
{
    Sandbox box;
    const auto protect = box.prune({"--dry-run", "--protect", fixture::fixture_spec(0),
                                    "--protect=" + fixture::fixture_spec(1)});
    BOOST_TEST(protect.exit_code == 0, protect.err);
    std::set<std::string> exempted;
    for (const auto& line : lines_of(protect))
        if (line.value("reason", "") == "protected") exempted.insert(line["spec"]);
    BOOST_TEST(exempted.size() == 2u);

    fs::create_directories(box.dir / "config/spec-hygiene");
    write_file(box.dir / "config/spec-hygiene/config.json",
               R"({"evidence-prune": {"archive_days": 100, "purge_days": 90}})");
    BOOST_TEST(box.prune({"--dry-run"}).exit_code == 78);
    BOOST_TEST(box.prune({"--dry-run", "--archive-after", "100d"}).exit_code == 64);
}

BOOST_AUTO_TEST_CASE(missing_evidence_root_is_66)
{
    Sandbox box;
    fs::remove_all(box.root);
    const auto result = box.prune({});
    BOOST_TEST(result.exit_code == 66);
    BOOST_TEST(result.err.find(box.root.string()) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(dry_run_on_the_fixture_leaves_it_byte_identical_and_matches_the_run)
{
    Sandbox box;
    const auto before = snapshot(box.root);
    const auto dry = box.prune({"--dry-run"});
    BOOST_TEST(dry.exit_code == 0, dry.err);
    BOOST_TEST((snapshot(box.root) == before));

    const auto real = box.prune({});
    BOOST_TEST(real.exit_code == 0, real.err);
    auto dry_lines = lines_of(dry);
    auto real_lines = lines_of(real);
    BOOST_REQUIRE_EQUAL(dry_lines.size(), real_lines.size());
    for (std::size_t i = 0; i + 1 < dry_lines.size(); ++i)
        for (const auto* key : {"action", "spec", "archive", "files", "bytes", "reason", "path"})
            BOOST_TEST(dry_lines[i].value(key, json()) == real_lines[i].value(key, json()),
                       "line " << i << " " << key);
    const auto& summary = real_lines.back();
    BOOST_TEST(summary["tool"] == "evidence-prune");
    BOOST_TEST(summary["schema_version"] == 1);
    BOOST_TEST(summary["files_archived"].get<int>() > 0);
    // The fixture's 120- and 400-day-old files are archived first, never purged loose.
    BOOST_TEST(summary["files_purged"] == 0);
    BOOST_TEST(dry_lines.back()["dry_run"] == true);
}

BOOST_AUTO_TEST_CASE(check_exits_2_over_a_hard_limit_and_0_under)
{
    Sandbox box;
    const auto over = box.prune({"--check", "--limit-mb", "0.001"});
    BOOST_TEST(over.exit_code == 2, over.err);
    BOOST_TEST(lines_of(over).back()["limit_passed"] == true);
    const auto under = box.prune({"--check"});
    BOOST_TEST(under.exit_code == 0, under.err);
}

BOOST_AUTO_TEST_CASE(second_instance_exits_75)
{
    Sandbox box;
    const int fd = ::open(box.root.c_str(), O_RDONLY | O_DIRECTORY);
    BOOST_REQUIRE(::flock(fd, LOCK_EX) == 0);
    const auto before = snapshot(box.root);
    const auto result = box.prune({});
    ::close(fd);
    BOOST_TEST(result.exit_code == 75);
    BOOST_TEST(result.err.find("another evidence-prune is running") != std::string::npos);
    BOOST_TEST((snapshot(box.root) == before));
}

BOOST_AUTO_TEST_CASE(read_only_root_is_a_clear_error_and_nothing_is_half_done,
                     *boost::unit_test::label("unprivileged") *
                         boost::unit_test::precondition(can_run_unprivileged))
{
    Sandbox box;
    const auto before = snapshot(box.root);
    // Readable by everyone, writable by no one but root.
    for (const auto& entry : fs::recursive_directory_iterator(box.root))
        if (entry.is_directory()) fs::permissions(entry.path(), fs::perms(0755));
    fs::permissions(box.root, fs::perms(0555));
    fs::permissions(box.dir.path(), fs::perms(0777));
    const auto result =
        test_support::run_process(unprivileged({EVIDENCE_PRUNE_BIN, "--evidence", box.root.string(),
                                                "--db", (box.dir / "nobody.db").string()}),
                                  {}, test_support::isolated_environment(box.dir));
    fs::permissions(box.root, fs::perms(0755));
    BOOST_TEST(result.exit_code == 77, result.err);
    BOOST_TEST(result.err.find("read-only") != std::string::npos, result.err);
    BOOST_TEST((snapshot(box.root) == before));
}

BOOST_AUTO_TEST_CASE(an_unreadable_folder_in_one_spec_leaves_the_others_processed_and_recorded,
                     *boost::unit_test::label("unprivileged") *
                         boost::unit_test::precondition(can_run_unprivileged))
{
    Sandbox box(archivable());
    const auto blocked = box.root / "consensus" / fixture::fixture_spec(1);
    BOOST_REQUIRE(fs::is_directory(blocked));
    if (::geteuid() == 0)
        BOOST_REQUIRE(
            test_support::run_process({"/bin/chown", "-R", "65534:65534", box.dir.path().string()})
                .exit_code == 0);
    fs::permissions(blocked, fs::perms::none);
    const auto result =
        test_support::run_process(unprivileged({EVIDENCE_PRUNE_BIN, "--evidence", box.root.string(),
                                                "--db", box.db.string()}),
                                  {}, test_support::isolated_environment(box.dir));
    fs::permissions(blocked, fs::perms(0755));
    BOOST_TEST(result.exit_code == 1, result.err);
    // One line naming the folder and the system's reason.
    BOOST_TEST(result.err.find(blocked.string()) != std::string::npos, result.err);
    BOOST_TEST(result.err.find("Permission denied") != std::string::npos, result.err);
    std::set<std::string> archived;
    for (const auto& line : lines_of(result))
        if (line.value("action", "") == "archive" && line.value("ok", false))
            archived.insert(line["spec"].get<std::string>());
    BOOST_TEST(archived.size() == 3u);
    BOOST_TEST(!archived.count(fixture::fixture_spec(1)));
    const auto db = common::Database::open(box.db, {.mode = common::OpenMode::read_only});
    BOOST_TEST(db.query_int("SELECT count(*) FROM maintenance_runs WHERE tool = "
                            "'evidence-prune' AND outcome = 'failed'") == 1);
}

// A run killed with SIGKILL at `point`, then a normal run: every original is in place or in an
// archive that is recorded with its checksum.
void check_crash_at(const std::string& point)
{
    Sandbox box(archivable());
    const auto originals = evidence_files(box.root);
    const auto killed = box.prune({}, {{"SPEC_HYGIENE_TEST_CRASH_AT", point}});
    BOOST_TEST(killed.exit_code == 128 + 9, point << ": " << killed.err);

    const auto rerun = box.prune({});
    BOOST_TEST(rerun.exit_code == 0, rerun.err);
    const auto present = evidence_files(box.root);
    const auto archived = recorded_archive_members(box.root, box.db);
    for (const auto& [path, content] : originals) {
        const auto here = present.find(path);
        const auto there = archived.find(path);
        const bool safe = (here != present.end() && here->second == content) ||
                          (there != archived.end() && there->second == content);
        BOOST_TEST(safe, point << ": " << path << " lost");
    }
    // The work is finished: only the newest syntheses are left loose.
    BOOST_TEST(present.size() == 4u, point);
    BOOST_TEST(box.prune({}).out.find("\"action\":\"archive\"") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(kill_after_the_archive_is_written_loses_nothing)
{
    check_crash_at("archive-written");
}

BOOST_AUTO_TEST_CASE(kill_before_the_originals_are_removed_loses_nothing)
{
    check_crash_at("archive-recorded");
}

BOOST_AUTO_TEST_CASE(first_run_on_an_old_tree_archives_and_a_run_after_the_grace_purges)
{
    fixture::EvidenceShape shape;
    shape.specs = 3;
    shape.files_per_spec = 20;
    shape.ages_days = {120, 400, 2};
    Sandbox box(shape);
    const auto originals = evidence_files(box.root);
    const auto first = box.prune({});
    BOOST_TEST(first.exit_code == 0, first.err);
    BOOST_TEST(lines_of(first).back()["files_purged"] == 0);
    BOOST_TEST(lines_of(first).back()["archives_made"] == 2);
    // Nothing is gone: every file is loose or in a recorded archive, to be restored all week.
    const auto present = evidence_files(box.root);
    const auto archived = recorded_archive_members(box.root, box.db);
    for (const auto& [path, content] : originals) {
        const auto here = present.find(path);
        const auto there = archived.find(path);
        BOOST_TEST(((here != present.end() && here->second == content) ||
                    (there != archived.end() && there->second == content)),
                   path << " lost");
    }
    const auto within = box.prune({"--explain"});
    BOOST_TEST(within.exit_code == 0, within.err);
    BOOST_TEST(lines_of(within).back()["archives_purged"] == 0);
    BOOST_TEST(within.err.find("within the purge grace of 7d") != std::string::npos, within.err);
    {
        auto db = common::Database::open(box.db);
        db.exec("UPDATE evidence_archives SET created_at = datetime(created_at, '-8 days')");
    }
    const auto after = box.prune({});
    BOOST_TEST(after.exit_code == 0, after.err);
    BOOST_TEST(lines_of(after).back()["archives_purged"] == 2);
    BOOST_TEST(lines_of(after).back()["files_purged"] == 0);
    BOOST_TEST(fs::is_empty(box.root / "archives"));
    BOOST_TEST(common::Database::open(box.db, {.mode = common::OpenMode::read_only})
                   .query_int("SELECT count(*) FROM evidence_archives WHERE action = 'purge' "
                              "AND archive_path IS NOT NULL") == 2);
}

BOOST_AUTO_TEST_CASE(kill_at_moments_spread_over_a_run_loses_nothing)
{
    fixture::EvidenceShape shape = archivable();
    // More specs than one flush takes (32 archives), so that runs are killed in several.
    shape.specs = 200;
    shape.files_per_spec = 12;
    Sandbox box(shape);
    const auto originals = evidence_files(box.root);
    // Points chosen from the run's own progress, not from the clock: after the first file
    // removed, at each named point, then spread over the files each later run has left.
    const auto kill_at = [&](const std::string& point) {
        const auto killed = box.prune({"--quiet"}, {{"SPEC_HYGIENE_TEST_CRASH_AT", point}});
        BOOST_TEST(killed.exit_code == 128 + 9, point << ": " << killed.err);
    };
    for (const auto* point : {"files:1", "archive-written", "archive-recorded"})
        kill_at(point);
    for (const int part : {7, 3, 2}) {
        const auto left = lines_of(box.prune({"--dry-run"})).back()["files_archived"].get<int>();
        BOOST_REQUIRE(left > part);
        kill_at(fmt::format("files:{}", left / part));
    }
    const auto rerun = box.prune({});
    BOOST_TEST(rerun.exit_code == 0, rerun.err);
    const auto present = evidence_files(box.root);
    const auto archived = recorded_archive_members(box.root, box.db);
    for (const auto& [path, content] : originals) {
        const auto here = present.find(path);
        const auto there = archived.find(path);
        BOOST_TEST(((here != present.end() && here->second == content) ||
                    (there != archived.end() && there->second == content)),
                   path << " lost");
    }
    BOOST_TEST(present.size() == static_cast<std::size_t>(shape.specs));
}

BOOST_AUTO_TEST_CASE(the_installed_binary_has_no_crash_hook)
{
    Sandbox box(archivable());
    auto env = test_support::isolated_environment(box.dir);
    env["SPEC_HYGIENE_TEST_CRASH_AT"] = "archive-written";
    const auto result = test_support::run_process(
        {EVIDENCE_PRUNE_BIN, "--evidence", box.root.string(), "--db", box.db.string()}, {}, env);
    BOOST_TEST(result.exit_code == 0, result.err);
}

BOOST_AUTO_TEST_CASE(output_is_json_lines_with_the_summary_last)
{
    Sandbox box;
    const auto result = box.prune({"--dry-run", "--explain"});
    BOOST_TEST(result.exit_code == 0);
    const auto lines = lines_of(result);
    BOOST_REQUIRE(lines.size() > 1u);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        BOOST_TEST(lines[i].contains("action"));
        BOOST_TEST(lines[i].contains("reason"));
    }
    for (const auto* key :
         {"files_archived", "files_purged", "bytes_reclaimed", "rows_deleted", "total_bytes",
          "specs", "warnings", "exempted_specs", "dry_run", "duration_ms"})
        BOOST_TEST(lines.back().contains(key), key);
    // Explanations go to stderr, and no progress line when stderr is not a terminal.
    BOOST_TEST(result.err.find("active: modified 2d ago") != std::string::npos);
    BOOST_TEST(result.err.find('\r') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_name_with_control_characters_reaches_stderr_as_escapes)
{
    // A file name that sets the terminal's title and clears its screen when printed raw.
    Sandbox box;
    fs::create_directories(box.root / "archives");
    write_file(box.root / "archives" / "odd\x1b]0;pwned\x07\u009b2J.txt", "x");
    const auto result = box.prune({"--dry-run", "--explain"});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(result.err.find("archives/odd\\x1b]0;pwned\\x07\\u009b2J.txt: left alone") !=
                   std::string::npos,
               result.err);
    BOOST_TEST(result.err.find('\x1b') == std::string::npos);
    BOOST_TEST(result.err.find('\x07') == std::string::npos);
    BOOST_TEST(result.err.find("\u009b") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_gate_and_the_health_report_measure_a_spec_alike)
{
    Sandbox box(archivable());
    // Archives, loose files, a writer's temporary, a file of no spec, a slugged spec folder.
    BOOST_REQUIRE(box.prune({"--archive-after", "60d"}).exit_code == 0);
    write_file(box.root / "consensus" / fixture::fixture_spec(0) / ".a.json.Ab12Cd.tmp", "half");
    write_file(box.root / "consensus/stray.json", "not a spec's");
    fs::create_directories(box.root / "consensus/SPEC-KIT-045-mini");
    write_file(box.root / "consensus/SPEC-KIT-045-mini/plan_synthesis.json", "{}");

    const auto gate = box.prune({"--check"});
    BOOST_TEST_REQUIRE(gate.exit_code == 0, gate.err);
    const auto gate_specs = lines_of(gate).back()["specs"];
    const auto health = test_support::run_process(
        {METRICS_REPORT_BIN, "--format", "json"}, {},
        test_support::isolated_environment(box.dir, box.db.string(), box.root.string()));
    BOOST_TEST_REQUIRE(health.exit_code == 0, health.err);
    json health_specs = json::object();
    const auto report = json::parse(health.out);
    for (const auto& spec : report["health"]["evidence"]["specs"])
        health_specs[spec["spec"].get<std::string>()] = spec["bytes"];
    BOOST_TEST(gate_specs.size() == 5u);
    BOOST_TEST(gate_specs.dump() == health_specs.dump());
}
