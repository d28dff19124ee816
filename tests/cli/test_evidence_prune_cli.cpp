#define BOOST_TEST_MODULE test_cli_evidence_prune
#include <boost/test/unit_test.hpp>

#include "common/archive.hpp"
#include "common/digest.hpp"
#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <map>
#include <set>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::file_bytes;
using test_support::ProcessResult;
using test_support::write_file;

// A temporary folder with an evidence tree from the shared fixture, and evidence-prune run
// with an environment of its own (no configuration or database of the developer's).
struct Sandbox {
    test_support::TempDir dir;
    fs::path root = dir / "evidence";
    fs::path db = dir / "hygiene.db";

    explicit Sandbox(fixture::EvidenceShape shape = {})
    {
        fs::create_directory(dir / "config");
        fixture::make_evidence_tree(root, shape);
    }

    ProcessResult prune(std::vector<std::string> args,
                        const std::map<std::string, std::string>& extra = {}) const
    {
        // The crash hook is compiled only into the test build of the tool.
        const bool hook = extra.count("SPEC_HYGIENE_TEST_CRASH_AT") > 0;
        std::vector<std::string> argv{hook ? EVIDENCE_PRUNE_TEST_BIN : EVIDENCE_PRUNE_BIN,
                                      "--evidence", root.string(), "--db", db.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto env = test_support::isolated_environment(dir);
        for (const auto& [name, value] : extra)
            env[name] = value;
        return test_support::run_process(argv, {}, env);
    }
};

std::vector<json> lines_of(const ProcessResult& result)
{
    std::vector<json> lines;
    std::istringstream out(result.out);
    for (std::string line; std::getline(out, line);) {
        BOOST_TEST_REQUIRE(json::accept(line), line);
        lines.push_back(json::parse(line));
    }
    return lines;
}

// Every regular file under commands/ and consensus/: path -> content.
std::map<std::string, std::string> evidence_files(const fs::path& root)
{
    std::map<std::string, std::string> files;
    for (const auto* top : {"commands", "consensus"}) {
        if (!fs::exists(root / top)) continue;
        for (const auto& entry : fs::recursive_directory_iterator(root / top))
            if (entry.is_regular_file() && !entry.is_symlink())
                files[fs::relative(entry.path(), root).string()] = file_bytes(entry.path());
    }
    return files;
}

// Every file with mode, mtime and content, to show that nothing changed.
std::map<std::string, std::string> snapshot(const fs::path& root)
{
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        struct stat status {};
        ::lstat(entry.path().c_str(), &status);
        auto& state = files[fs::relative(entry.path(), root).string()];
        state = fmt::format("{:o} {} {}", status.st_mode, status.st_mtim.tv_sec,
                            status.st_mtim.tv_nsec);
        if (S_ISREG(status.st_mode)) state += file_bytes(entry.path());
    }
    return files;
}

// Members of every archive that has a database record matching its SHA-256.
std::map<std::string, std::string> recorded_archive_members(const fs::path& root,
                                                            const fs::path& db_path)
{
    std::map<std::string, std::string> members;
    if (!fs::exists(root / "archives")) return members;
    const auto db = common::Database::open(db_path, {.mode = common::OpenMode::read_only});
    for (const auto& entry : fs::directory_iterator(root / "archives")) {
        const auto relative = "archives/" + entry.path().filename().string();
        auto query = db.prepare("SELECT sha256 FROM evidence_archives WHERE action = 'archive' "
                                "AND archive_path = ?");
        query.bind(1, relative);
        if (!query.step() || query.column_text(0) != common::sha256_file(entry.path())) continue;
        const int fd = ::open(entry.path().c_str(), O_RDONLY);
        common::ArchiveReader reader(fd, relative);
        common::ArchiveMember member;
        while (reader.next(member)) {
            std::string content;
            reader.read_data([&](std::string_view bytes) { content += bytes; });
            members[member.path] = content;
        }
        ::close(fd);
    }
    return members;
}

// Specs 45 and 75 days old only: everything old is archived, nothing purged.
fixture::EvidenceShape archivable()
{
    fixture::EvidenceShape shape;
    shape.specs = 4;
    shape.files_per_spec = 30;
    shape.ages_days = {45, 75};
    return shape;
}

// Whether a test can run the tool as a user without privileges: it is one, or (as root) it
// can become one with setpriv.
boost::test_tools::assertion_result can_run_unprivileged(boost::unit_test::test_unit_id)
{
    boost::test_tools::assertion_result result(::geteuid() != 0 ||
                                               ::access("/usr/bin/setpriv", X_OK) == 0);
    result.message() << "running as root without /usr/bin/setpriv";
    return result;
}

// argv run as nobody (as root) or as is, for tests where permissions must bite.
std::vector<std::string> unprivileged(std::vector<std::string> argv)
{
    if (::geteuid() != 0) return argv;
    argv.insert(argv.begin(),
                {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    return argv;
}

}  // namespace

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

namespace {

// A sandbox with several evidence roots, each with one old spec, and evidence-prune run with
// the roots only as `args` (or the configuration) name them.
struct Roots {
    test_support::TempDir dir;
    fs::path db = dir / "hygiene.db";

    Roots()
    {
        fs::create_directories(dir / "config/spec-hygiene");
        for (const auto* name : {"a", "b"}) {
            const auto file = root(name) / "consensus" / spec(name) / "old.json";
            fs::create_directories(file.parent_path());
            write_file(file, std::string("evidence of ") + name);
            const auto old = std::time(nullptr) - 100 * 86400;
            const timespec times[2] = {{old, 0}, {old, 0}};
            BOOST_REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
        }
    }

    fs::path root(const std::string& name) const { return dir / "docs" / name / "evidence"; }
    static std::string spec(const std::string& name)
    {
        return name == "a" ? "SPEC-KIT-045-mini" : "SPEC-KIT-933";
    }
    bool archived(const std::string& name) const
    {
        return !fs::exists(root(name) / "consensus" / spec(name) / "old.json") &&
               fs::exists(root(name) / "archives");
    }
    void configure(const std::string& text) const
    {
        write_file(dir / "config/spec-hygiene/config.json", text);
    }
    std::int64_t runs() const
    {
        return common::Database::open(db, {.mode = common::OpenMode::read_only})
            .query_int("SELECT count(*) FROM maintenance_runs WHERE tool = 'evidence-prune'");
    }

    ProcessResult prune(std::vector<std::string> args) const
    {
        std::vector<std::string> argv{EVIDENCE_PRUNE_BIN, "--db", db.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return test_support::run_process(argv, {}, test_support::isolated_environment(dir));
    }
};

// The summary lines of a multi-root run, by root.
std::map<std::string, json> summaries(const ProcessResult& result)
{
    std::map<std::string, json> found;
    for (const auto& line : lines_of(result))
        if (line.value("tool", "") == "evidence-prune") found[line["root"]] = line;
    return found;
}

}  // namespace

BOOST_AUTO_TEST_CASE(evidence_repeats_and_each_root_is_pruned_with_its_own_summary_and_row)
{
    Roots roots;
    const auto result = roots.prune(
        {"--evidence", roots.root("a").string(), "--evidence=" + roots.root("b").string()});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(roots.archived("a"));
    BOOST_TEST(roots.archived("b"));
    const auto found = summaries(result);
    BOOST_TEST(found.size() == 2u);
    BOOST_TEST(found.at(roots.root("a").string())["files_archived"] == 1);
    BOOST_TEST(found.at(roots.root("b").string())["files_archived"] == 1);
    BOOST_TEST(roots.runs() == 2);
}

BOOST_AUTO_TEST_CASE(a_root_that_fails_is_reported_and_the_others_are_pruned_with_exit_1)
{
    Roots roots;
    // One root held by another instance, one missing: the third is still pruned.
    const int fd = ::open(roots.root("a").c_str(), O_RDONLY | O_DIRECTORY);
    BOOST_REQUIRE(::flock(fd, LOCK_EX) == 0);
    const auto missing = roots.dir / "docs/gone/evidence";
    const auto result = roots.prune({"--evidence", roots.root("a").string(), "--evidence",
                                     missing.string(), "--evidence", roots.root("b").string()});
    ::close(fd);
    BOOST_TEST(result.exit_code == 1, result.err);
    BOOST_TEST(!roots.archived("a"));
    BOOST_TEST(roots.archived("b"));
    const auto found = summaries(result);
    BOOST_TEST(found.at(roots.root("a").string())["exit_status"] == 75);
    BOOST_TEST(found.at(missing.string())["exit_status"] == 66);
    BOOST_TEST(found.at(roots.root("b").string())["files_archived"] == 1);
    BOOST_TEST(result.err.find(roots.root("a").string() + ": another evidence-prune") !=
                   std::string::npos,
               result.err);
    BOOST_TEST(result.err.find(missing.string()) != std::string::npos, result.err);
}

BOOST_AUTO_TEST_CASE(the_configuration_lists_the_roots_and_a_flag_overrides_the_list)
{
    Roots roots;
    roots.configure(fmt::format(
        R"({{"evidence-prune": {{"evidence": [{}, {}], "purge_grace_days": 3, "stale_days": 2,
            "rows_of_others": false}}}})",
        json(roots.root("a").string()).dump(), json(roots.root("b").string()).dump()));
    const auto one = roots.prune({"--evidence", roots.root("b").string()});
    BOOST_TEST(one.exit_code == 0, one.err);
    BOOST_TEST(!roots.archived("a"));
    BOOST_TEST(roots.archived("b"));
    const auto both = roots.prune({});
    BOOST_TEST(both.exit_code == 0, both.err);
    BOOST_TEST(roots.archived("a"));
    BOOST_TEST(summaries(both).size() == 2u);
    // One root may be a plain string.
    roots.configure(fmt::format(R"({{"evidence-prune": {{"evidence": {}}}}})",
                                json(roots.root("a").string()).dump()));
    const auto single = roots.prune({"--dry-run"});
    BOOST_TEST(single.exit_code == 0, single.err);
    BOOST_TEST(summaries(single).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_wrong_list_of_roots_is_78_and_one_root_actions_refuse_several_with_64)
{
    Roots roots;
    for (const auto* bad : {"[]", "[1]", "7", R"(["a", null])"}) {
        roots.configure(fmt::format(R"({{"evidence-prune": {{"evidence": {}}}}})", bad));
        const auto result = roots.prune({"--dry-run"});
        BOOST_TEST(result.exit_code == 78, bad << ": " << result.err);
        BOOST_TEST(result.err.find("evidence-prune.evidence") != std::string::npos, result.err);
    }
    fs::remove(roots.dir / "config/spec-hygiene/config.json");
    for (const auto* action : {"--restore=x.tar.gz", "--plan=-", "--apply=plan.jsonl"}) {
        const auto result = roots.prune({action, "--evidence", roots.root("a").string(),
                                         "--evidence", roots.root("b").string()});
        BOOST_TEST(result.exit_code == 64, action << ": " << result.err);
    }
    BOOST_TEST(!roots.archived("a"));
    BOOST_TEST(!roots.archived("b"));
    BOOST_TEST(!fs::exists(roots.db));
}

namespace {

boost::test_tools::assertion_result has_script(boost::unit_test::test_unit_id)
{
    boost::test_tools::assertion_result result(::access("/usr/bin/script", X_OK) == 0);
    result.message() << "no /usr/bin/script (util-linux) to give the tool a terminal";
    return result;
}

std::string quoted(const std::string& text)
{
    std::string out = "'";
    for (const char c : text)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

}  // namespace

BOOST_AUTO_TEST_CASE(on_a_terminal_the_report_is_text_and_json_only_when_asked,
                     *boost::unit_test::precondition(has_script))
{
    Sandbox box(archivable());
    const auto before = snapshot(box.root);
    const auto on_terminal = [&](const std::string& extra) {
        const auto command =
            fmt::format("{} --evidence {} --db {} --dry-run {}", quoted(EVIDENCE_PRUNE_BIN),
                        quoted(box.root.string()), quoted(box.db.string()), extra);
        return test_support::run_process({"/usr/bin/script", "-qec", command, "/dev/null"}, {},
                                         test_support::isolated_environment(box.dir));
    };
    const auto text = on_terminal("");
    BOOST_TEST(text.exit_code == 0, text.out);
    BOOST_TEST(text.out.find("would archive") != std::string::npos, text.out);
    BOOST_TEST(text.out.find("{\"") == std::string::npos, text.out);
    const auto forced = on_terminal("--json");
    BOOST_TEST(forced.exit_code == 0, forced.out);
    BOOST_TEST(forced.out.find("{\"tool\":\"evidence-prune\"") != std::string::npos, forced.out);
    BOOST_TEST(forced.out.find("would archive") == std::string::npos, forced.out);
    BOOST_TEST((snapshot(box.root) == before));
}
