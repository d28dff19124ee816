#define BOOST_TEST_MODULE test_cli_db_vacuum
#include <boost/test/unit_test.hpp>

#include "common/schema.hpp"
#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <sys/mount.h>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using common::Database;
using common::OpenMode;
using nlohmann::json;
using test_support::file_bytes;
using test_support::ProcessResult;
using test_support::write_file;

using Rows = std::vector<std::vector<common::Value>>;

// A temporary folder per test, and db-vacuum run in it with an environment of its own: an
// empty configuration folder and state folder, so that a developer's own configuration or
// database never takes part, and no inherited $SPEC_HYGIENE_DB (empty counts as unset).
struct Sandbox {
    test_support::TempDir dir;
    fs::path config_home = dir / "config";

    Sandbox() { fs::create_directory(config_home); }

    std::map<std::string, std::string>
    environment(const std::map<std::string, std::string>& extra = {}) const
    {
        std::map<std::string, std::string> env{{"XDG_CONFIG_HOME", config_home.string()},
                                               {"XDG_STATE_HOME", (dir / "state").string()},
                                               {"SPEC_HYGIENE_DB", ""}};
        for (const auto& [name, value] : extra)
            env[name] = value;
        return env;
    }

    ProcessResult vacuum(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env = {}) const
    {
        std::vector<std::string> argv{DB_VACUUM_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        return test_support::run_process(argv, {}, environment(env));
    }

    // A database shaped like the upstream one, with `bloat_mib` MiB of free pages.
    fs::path make_database(const std::string& name, std::uint64_t bloat_mib = 2,
                           bool toolkit_schema = true,
                           const std::string& journal_mode = "wal") const
    {
        const auto path = dir / name;
        fixture::make_upstream_database(path, {.bloat_bytes = bloat_mib << 20,
                                               .specs = 12,
                                               .toolkit_schema = toolkit_schema,
                                               .journal_mode = journal_mode});
        return path;
    }
};

json parse_report(const ProcessResult& result)
{
    BOOST_TEST_INFO("stdout: " << result.out << "\nstderr: " << result.err);
    BOOST_REQUIRE(json::accept(result.out));
    return json::parse(result.out);
}

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

bool has_step(const json& report, const std::string& step)
{
    const auto& steps = report.at("steps");
    return std::find(steps.begin(), steps.end(), step) != steps.end();
}

std::int64_t query_int(const fs::path& file, const std::string& sql)
{
    return Database::open(file, {.mode = OpenMode::read_only}).query_int(sql);
}

// Every table's rows in rowid order, and the schema (without root pages, which a rebuild moves).
std::map<std::string, Rows> database_contents(const fs::path& file)
{
    const auto db = Database::open(file, {.mode = OpenMode::read_only});
    std::map<std::string, Rows> contents;
    contents["sqlite_schema"] =
        db.query_rows("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name");
    auto tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'");
    while (tables.step()) {
        const auto table = tables.column_text(0);
        contents[table] = db.query_rows(fmt::format("SELECT * FROM \"{}\" ORDER BY rowid", table));
    }
    return contents;
}

void check_same_contents(const std::map<std::string, Rows>& before,
                         const std::map<std::string, Rows>& after)
{
    BOOST_TEST(before.size() == after.size());
    for (const auto& [table, rows] : before) {
        BOOST_TEST_CONTEXT("table " << table)
        {
            const auto found = after.find(table);
            BOOST_TEST_REQUIRE((found != after.end()));
            BOOST_TEST(found->second.size() == rows.size());
            BOOST_TEST((found->second == rows));
        }
    }
}

// Total bytes of the database and its WAL.
std::uintmax_t bytes_on_disk(const fs::path& file)
{
    std::error_code ec;
    const auto wal = fs::file_size(file.string() + "-wal", ec);
    return fs::file_size(file) + (ec ? 0 : wal);
}

// Adds and drops a table, leaving about `bytes` of free pages behind.
void add_free_pages(const fs::path& file, std::int64_t bytes)
{
    auto db = Database::open(file);
    db.exec("CREATE TABLE test_scratch (content BLOB)");
    auto insert =
        db.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                   "INSERT INTO test_scratch SELECT zeroblob(16384) FROM n");
    insert.bind(1, bytes / 16384).run();
    db.exec("DROP TABLE test_scratch");
}

// Switches `file` to incremental auto-vacuum without db-vacuum.
void make_incremental(const fs::path& file)
{
    auto db = Database::open(file);
    db.exec("PRAGMA auto_vacuum=INCREMENTAL");
    db.exec("VACUUM");
}

void write_config(const fs::path& file, const std::string& text)
{
    fs::create_directories(file.parent_path());
    write_file(file, text);
}

void require_usage_error(const ProcessResult& result)
{
    BOOST_TEST(result.exit_code == 64);
    BOOST_TEST(contains(result.err, "Try 'db-vacuum --help'"), result.err);
    BOOST_TEST(result.out.empty());
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(db_vacuum_cli, Sandbox)

// --- migrate ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(migrate_shrinks_a_bloated_database_and_keeps_every_row)
{
    const auto db = make_database("bloated.db", 100);
    const auto size_before = bytes_on_disk(db);
    BOOST_TEST_REQUIRE(size_before >= 100'000'000u);
    BOOST_TEST_REQUIRE(100 * query_int(db, "PRAGMA freelist_count") >=
                       99 * query_int(db, "PRAGMA page_count"));
    const auto before = database_contents(db);

    const auto result = vacuum({"--db", db.string(), "--migrate"});

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto size_after = bytes_on_disk(db);
    BOOST_TEST(size_after * 100 < size_before, size_after << " of " << size_before << " bytes");
    auto after = database_contents(db);
    BOOST_TEST(after["maintenance_runs"].size() == before.at("maintenance_runs").size() + 1);
    after["maintenance_runs"].resize(before.at("maintenance_runs").size());
    check_same_contents(before, after);
    BOOST_TEST(query_int(db, "PRAGMA auto_vacuum") == 2);
    BOOST_TEST(query_int(db, "PRAGMA user_version") == 2);
    const auto report = parse_report(result);
    BOOST_TEST(report.at("reclaimed_bytes").get<std::int64_t>() > 0);
    BOOST_TEST(report.at("after").at("auto_vacuum") == "incremental");
    BOOST_TEST(report.at("check").at("ok") == true);
}

BOOST_AUTO_TEST_CASE(migrate_records_a_maintenance_run)
{
    const auto db = make_database("toolkit.db");

    const auto result = vacuum({"--db", db.string(), "--migrate"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(
        query_int(db, "SELECT count(*) FROM maintenance_runs WHERE tool = 'db-vacuum' "
                      "AND outcome = 'ok' AND json_extract(summary, '$.action') = 'migrate'") == 1);
    BOOST_TEST(parse_report(result).at("recorded") == true);
}

BOOST_AUTO_TEST_CASE(migrate_reports_the_journal_mode_the_file_had_before)
{
    const auto db = make_database("rollback.db", 2, true, "delete");

    const auto result = vacuum({"--db", db.string(), "--migrate"});

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto report = parse_report(result);
    BOOST_TEST(report.at("before").at("journal_mode") == "delete");
    BOOST_TEST(report.at("after").at("journal_mode") == "wal");
}

BOOST_AUTO_TEST_CASE(json_report_leads_with_tool_and_schema_version)
{
    const auto db = make_database("status.db");

    const auto result = vacuum({"--db", db.string(), "--json"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(result.out.rfind(R"({"tool":"db-vacuum","schema_version":1,)", 0) == 0, result.out);
    BOOST_TEST(std::count(result.out.begin(), result.out.end(), '\n') == 1);
}

BOOST_AUTO_TEST_CASE(no_record_adds_no_maintenance_run)
{
    const auto db = make_database("toolkit.db");

    const auto result = vacuum({"--db", db.string(), "--migrate", "--no-record"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(query_int(db, "SELECT count(*) FROM maintenance_runs") == 0);
    BOOST_TEST(parse_report(result).at("recorded") == false);
}

BOOST_AUTO_TEST_CASE(migrate_with_backup_writes_a_copy_of_the_rows)
{
    const auto db = make_database("toolkit.db");
    const auto backup = dir / "backup.db";
    const auto before = database_contents(db);

    const auto result = vacuum({"--db", db.string(), "--migrate", "--backup", backup.string()});

    BOOST_TEST(result.exit_code == 0, result.err);
    check_same_contents(before, database_contents(backup));
    BOOST_TEST(parse_report(result).at("backup") == backup.string());
}

BOOST_AUTO_TEST_CASE(migrate_refuses_to_overwrite_an_existing_backup_and_changes_nothing)
{
    // A rollback-journal file: opening it for writing would switch it to WAL.
    const auto db = make_database("toolkit.db", 2, true, "delete");
    const auto backup = dir / "backup.db";
    write_file(backup, "keep me\n");
    const auto bytes = file_bytes(db);

    const auto result = vacuum({"--db", db.string(), "--migrate", "--backup", backup.string()});

    BOOST_TEST(result.exit_code == 73);
    BOOST_TEST(contains(result.err, backup.string()), result.err);
    BOOST_TEST(file_bytes(backup) == "keep me\n");
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(partial_copy_of_a_killed_run_does_not_block_the_next)
{
    const auto db = make_database("toolkit.db");
    const auto backup = dir / "backup.db";
    write_file(backup.string() + ".kIll3d.partial", "the start of a copy");

    const auto result = vacuum({"--db", db.string(), "--migrate", "--backup", backup.string()});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(query_int(backup, "PRAGMA user_version") == 2);
    BOOST_TEST(query_int(backup, "SELECT count(*) FROM agent_executions") ==
               query_int(db, "SELECT count(*) FROM agent_executions"));
    // Only the run's own partial file is removed; nothing else of the folder is touched.
    std::vector<std::string> partials;
    for (const auto& entry : fs::directory_iterator(dir.path()))
        if (entry.path().extension() == ".partial") partials.push_back(entry.path().filename());
    BOOST_TEST((partials == std::vector<std::string>{"backup.db.kIll3d.partial"}));
}

BOOST_AUTO_TEST_CASE(backup_into_a_missing_folder_is_73_and_changes_nothing)
{
    const auto db = make_database("toolkit.db", 2, true, "delete");
    const auto bytes = file_bytes(db);

    const auto result = vacuum(
        {"--db", db.string(), "--full", "--backup", (dir / "no-such-dir" / "b.db").string()});

    BOOST_TEST(result.exit_code == 73);
    BOOST_TEST(contains(result.err, "no-such-dir"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(migrate_whose_checkpoint_a_reader_blocks_is_verified_and_recorded)
{
    const auto db = make_database("reader.db");
    auto reader = Database::open(db, {.mode = OpenMode::read_only});
    reader.exec("BEGIN");
    auto cursor = reader.prepare("SELECT spec_id FROM consensus_runs");
    BOOST_TEST_REQUIRE(cursor.step());

    const auto result = vacuum({"--db", db.string(), "--migrate", "--busy-timeout", "100"});

    BOOST_TEST(result.exit_code == 75, result.err);
    BOOST_TEST(contains(result.err, "checkpoint"), result.err);
    cursor.reset();
    reader.exec("COMMIT");
    BOOST_TEST(query_int(db, "PRAGMA auto_vacuum") == 2);
    BOOST_TEST(query_int(db, "SELECT count(*) FROM maintenance_runs WHERE outcome = 'failed' "
                             "AND json_extract(summary, '$.check.ok') = 1") == 1);
}

BOOST_AUTO_TEST_CASE(verbose_names_each_step_on_stderr)
{
    const auto db = make_database("verbose.db");

    const auto result = vacuum({"--db", db.string(), "--migrate", "--verbose"});

    BOOST_TEST(result.exit_code == 0, result.err);
    for (const auto* step : {"vacuum done", "check done", "checkpoint done"})
        BOOST_TEST(contains(result.err, step), step << " in: " << result.err);
}

// --- status -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(status_changes_no_byte_of_the_database)
{
    for (const std::string journal : {"wal", "delete"}) {
        BOOST_TEST_CONTEXT("journal mode " << journal)
        {
            const auto db = make_database("status-" + journal + ".db", 2, true, journal);
            const auto bytes = file_bytes(db);

            const auto result = vacuum({"--db", db.string()});

            BOOST_TEST(result.exit_code == 0, result.err);
            BOOST_TEST((file_bytes(db) == bytes));
        }
    }
}

BOOST_AUTO_TEST_CASE(status_reports_the_database_shape_as_json)
{
    const auto db = make_database("status.db");
    const auto page_count = query_int(db, "PRAGMA page_count");
    const auto freelist = query_int(db, "PRAGMA freelist_count");

    const auto result = vacuum({"--db", db.string()});

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto report = parse_report(result);
    BOOST_TEST(report.at("action") == "status");
    BOOST_TEST(report.at("database") == db.string());
    const auto& before = report.at("before");
    BOOST_TEST(before.at("page_count") == page_count);
    BOOST_TEST(before.at("freelist_pages") == freelist);
    BOOST_TEST(before.at("page_size") == query_int(db, "PRAGMA page_size"));
    BOOST_TEST(before.at("file_bytes") == fs::file_size(db));
    BOOST_TEST(before.at("auto_vacuum") == "none");
    BOOST_TEST(before.at("journal_mode") == "wal");
    BOOST_TEST(before.at("user_version") == 2);
    BOOST_TEST(before.at("toolkit_schema_version") == common::schema::current_version);
    BOOST_TEST(report.at("after").is_null());
    BOOST_TEST(report.at("reclaimed_bytes") == 0);
}

BOOST_AUTO_TEST_CASE(text_format_prints_the_status_for_people)
{
    const auto db = make_database("status.db");

    const auto result = vacuum({"--db", db.string(), "--format", "text"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(contains(result.out, "auto_vacuum  none"), result.out);
    BOOST_TEST(!json::accept(result.out));
}

// --- bad input --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(not_a_database_is_refused_unchanged)
{
    const auto file = dir / "notes.txt";
    const std::string text = "these are notes, not a SQLite database\n";
    write_file(file, text);
    for (const auto& action : std::vector<std::string>{"--check", "--migrate", "--full"}) {
        BOOST_TEST_CONTEXT(action)
        {
            const auto result = vacuum({"--db", file.string(), action});

            BOOST_TEST(result.exit_code == 65);
            BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1, result.err);
            BOOST_TEST(contains(result.err, file.string()), result.err);
            BOOST_TEST(file_bytes(file) == text);
        }
    }
}

BOOST_AUTO_TEST_CASE(missing_database_is_not_created)
{
    const auto missing = dir / "nothing-here.db";
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--db", missing.string()}, {"--db", missing.string(), "--migrate"}}) {
        BOOST_TEST_CONTEXT((args.size() == 2 ? "status" : "--migrate"))
        {
            const auto result = vacuum(args);

            BOOST_TEST(result.exit_code == 66);
            BOOST_TEST(contains(result.err, missing.string()), result.err);
            BOOST_TEST(!fs::exists(missing));
        }
    }
}

BOOST_AUTO_TEST_CASE(newer_toolkit_schema_is_refused_unchanged)
{
    const auto db = make_database("newer.db");
    Database::open(db).exec("INSERT INTO spec_hygiene_schema (version) VALUES (99)");
    const auto bytes = file_bytes(db);

    const auto result = vacuum({"--db", db.string(), "--migrate"});

    BOOST_TEST(result.exit_code == 65);
    BOOST_TEST(contains(result.err, "99"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(newer_toolkit_schema_in_rollback_journal_mode_is_refused_unchanged)
{
    const auto db = make_database("newer.db", 2, true, "delete");
    {
        auto writer = Database::open(db);
        writer.exec("INSERT INTO spec_hygiene_schema (version) VALUES (99)");
        writer.exec("PRAGMA journal_mode=DELETE");
    }
    const auto bytes = file_bytes(db);

    const auto result = vacuum({"--db", db.string(), "--migrate"});

    BOOST_TEST(result.exit_code == 65);
    BOOST_TEST((file_bytes(db) == bytes));
}

// --- contention -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(database_held_by_another_writer_fails_with_75_and_changes_nothing)
{
    const auto db = make_database("held.db", 2, false);
    const auto before = database_contents(db);
    auto writer = Database::open(db);
    common::Transaction hold(writer);
    writer.exec("INSERT INTO consensus_runs (spec_id, stage, consensus_ok) "
                "VALUES ('SPEC-KIT-999', 'plan', 1)");

    const auto result = vacuum({"--db", db.string(), "--full", "--busy-timeout", "100"});

    BOOST_TEST(result.exit_code == 75);
    BOOST_TEST(contains(result.err, "busy"), result.err);
    hold.rollback();
    check_same_contents(before, database_contents(db));
}

// Another application on a rollback-journal file: the sqlite3 shell holds a write lock for
// `seconds`, and the constructor returns once the lock is taken.
class ShellWriter {
public:
    ShellWriter(const fs::path& db, double seconds)
    {
        const auto script = db.string() + ".hold.sql";
        write_file(script, fmt::format("BEGIN IMMEDIATE;\n"
                                       "INSERT INTO consensus_runs (spec_id, stage, consensus_ok) "
                                       "VALUES ('SPEC-KIT-999', 'plan', 1);\n"
                                       "SELECT 'locked';\n"
                                       ".system sleep {}\n"
                                       "ROLLBACK;\n",
                                       seconds));
        const auto command = fmt::format("sqlite3 '{}' < '{}'", db.string(), script);
        m_pipe = ::popen(command.c_str(), "r");
        BOOST_TEST_REQUIRE(m_pipe != nullptr);
        char line[64] = {};
        BOOST_TEST_REQUIRE(std::fgets(line, sizeof line, m_pipe) != nullptr);
        BOOST_TEST_REQUIRE(std::string(line) == "locked\n");
    }
    ShellWriter(const ShellWriter&) = delete;
    ShellWriter& operator=(const ShellWriter&) = delete;
    ~ShellWriter() { ::pclose(m_pipe); }

private:
    FILE* m_pipe = nullptr;
};

BOOST_AUTO_TEST_CASE(rollback_journal_database_held_past_the_wait_is_75_and_unchanged)
{
    const auto db = make_database("rollback-held.db", 2, false, "delete");
    const auto bytes = file_bytes(db);
    ShellWriter writer(db, 3);

    const auto result = vacuum({"--db", db.string(), "--full", "--busy-timeout", "100"});

    BOOST_TEST(result.exit_code == 75, result.err);
    BOOST_TEST(contains(result.err, "locked"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(rollback_journal_database_released_within_the_wait_is_vacuumed)
{
    const auto db = make_database("rollback-released.db", 2, false, "delete");
    ShellWriter writer(db, 0.3);

    const auto result = vacuum({"--db", db.string(), "--full", "--busy-timeout", "10000"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result).at("after").at("freelist_pages") == 0);
}

BOOST_AUTO_TEST_CASE(checkpoint_blocked_by_a_reader_fails_with_75)
{
    const auto db = make_database("read.db", 1, false);
    auto reader = Database::open(db, {.mode = OpenMode::read_only});
    reader.exec("BEGIN");
    auto cursor = reader.prepare("SELECT spec_id FROM consensus_runs");
    BOOST_TEST_REQUIRE(cursor.step());
    auto writer = Database::open(db);
    common::write_transaction(writer, [&] {
        writer.exec("INSERT INTO consensus_runs (spec_id, stage, consensus_ok) VALUES "
                    "('SPEC-KIT-990', 'plan', 1), ('SPEC-KIT-991', 'tasks', 1), "
                    "('SPEC-KIT-992', 'audit', 0)");
    });

    const auto result = vacuum({"--db", db.string(), "--checkpoint", "--busy-timeout", "100"});

    BOOST_TEST(result.exit_code == 75);
    BOOST_TEST(contains(result.err, "checkpoint"), result.err);
    BOOST_TEST(result.out.empty(), result.out);
}

BOOST_AUTO_TEST_CASE(checkpoint_empties_the_wal)
{
    const auto db = make_database("wal.db", 1, false);
    auto writer = Database::open(db);
    writer.exec("INSERT INTO consensus_runs (spec_id, stage, consensus_ok) "
                "VALUES ('SPEC-KIT-990', 'plan', 1)");
    BOOST_TEST_REQUIRE(fs::file_size(db.string() + "-wal") > 0u);

    const auto result = vacuum({"--db", db.string(), "--checkpoint"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result).at("after").at("wal_bytes") == 0);
    BOOST_TEST(fs::file_size(db.string() + "-wal") == 0u);
}

// --- free space -------------------------------------------------------------------------------

// A small tmpfs mounted for one test (root only), unmounted with everything in it after.
class SmallFileSystem {
public:
    SmallFileSystem(const fs::path& where, int mebibytes) : m_where(where)
    {
        fs::create_directories(where);
        const auto options = fmt::format("size={}m", mebibytes);
        m_mounted = ::mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) == 0;
    }
    SmallFileSystem(const SmallFileSystem&) = delete;
    SmallFileSystem& operator=(const SmallFileSystem&) = delete;
    ~SmallFileSystem()
    {
        if (m_mounted) ::umount2(m_where.c_str(), MNT_DETACH);
    }
    bool mounted() const { return m_mounted; }

private:
    fs::path m_where;
    bool m_mounted = false;
};

// Mounting needs root with CAP_SYS_ADMIN, which a container may not grant: then the tests
// that need it (labelled needs_mount: ctest runs them apart) are skipped, and ctest says so.
boost::test_tools::assertion_result can_mount(boost::unit_test::test_unit_id)
{
    test_support::TempDir probe;
    SmallFileSystem small(probe / "probe", 1);
    boost::test_tools::assertion_result result(small.mounted());
    result.message() << "cannot mount a tmpfs here";
    return result;
}

// A rollback-journal database with 3 MiB of live rows.
void make_live_database(const fs::path& db)
{
    auto writer = Database::open(db, {.mode = OpenMode::create});
    writer.exec("PRAGMA journal_mode=DELETE");
    writer.exec("CREATE TABLE t (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                "SELECT i + 1 FROM n WHERE i < 48) INSERT INTO t SELECT randomblob(65536) FROM n");
}

BOOST_AUTO_TEST_CASE(rebuild_without_room_beside_the_database_is_74_and_changes_nothing,
                     *boost::unit_test::label("needs_mount") *
                         boost::unit_test::precondition(can_mount))
{
    SmallFileSystem small(dir / "small", 8);
    BOOST_TEST_REQUIRE(small.mounted());
    // The WAL and SQLite's temporary copy need 3 MiB each plus a margin; the file itself
    // already takes 3 of the 8.
    const auto db = dir / "small" / "full.db";
    make_live_database(db);
    const auto bytes = file_bytes(db);

    const auto result =
        vacuum({"--db", db.string(), "--full"}, {{"SQLITE_TMPDIR", (dir / "small").string()}});

    BOOST_TEST(result.exit_code == 74, result.err);
    BOOST_TEST(contains(result.err, "not enough free space"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(rebuild_without_room_for_the_temporary_copy_is_74,
                     *boost::unit_test::label("needs_mount") *
                         boost::unit_test::precondition(can_mount))
{
    // The database has room; SQLite's temporary folder, on another file system, has not.
    SmallFileSystem small(dir / "small-tmp", 2);
    BOOST_TEST_REQUIRE(small.mounted());
    const auto db = dir / "roomy.db";
    make_live_database(db);
    const auto bytes = file_bytes(db);

    const auto result =
        vacuum({"--db", db.string(), "--full"}, {{"SQLITE_TMPDIR", (dir / "small-tmp").string()}});

    BOOST_TEST(result.exit_code == 74, result.err);
    BOOST_TEST(contains(result.err, "small-tmp"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

// --- permissions ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(read_only_database_is_a_clear_error)
{
    const auto db = make_database("read-only.db", 1, false);
    fs::permissions(db, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    const auto bytes = file_bytes(db);
    // Root writes through file modes, so the binary runs as nobody against root's file.
    std::vector<std::string> argv;
    if (::geteuid() == 0)
        argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
    argv.insert(argv.end(), {DB_VACUUM_BIN, "--db", db.string(), "--full"});

    const auto result = test_support::run_process(argv, {}, environment());

    BOOST_TEST(result.exit_code == 77, result.err);
    BOOST_TEST(contains(result.err, "read-only"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

// --- check ------------------------------------------------------------------------------------

namespace {

// A database whose pages 5 and 6 (of many: a table and its index) are overwritten with garbage.
fs::path make_damaged_database(const fs::path& file)
{
    std::int64_t page_size = 0;
    {
        auto db = Database::open(file, {.mode = OpenMode::create});
        db.exec("PRAGMA journal_mode=DELETE");
        db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, name TEXT, body TEXT);"
                "CREATE INDEX notes_name ON notes (name);"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) "
                "INSERT INTO notes SELECT i, printf('note-%06d', i), hex(randomblob(40)) FROM n;");
        page_size = db.query_int("PRAGMA page_size");
        BOOST_TEST_REQUIRE(db.query_int("PRAGMA page_count") > 20);
    }
    std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(4 * page_size);
    const std::string garbage(static_cast<std::size_t>(2 * page_size), '\x5A');
    out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    BOOST_TEST_REQUIRE(out.good());
    return file;
}

}  // namespace

BOOST_AUTO_TEST_CASE(full_check_lists_the_problems_of_overwritten_pages)
{
    const auto db = make_damaged_database(dir / "damaged.db");
    const auto bytes = file_bytes(db);

    const auto result = vacuum({"--db", db.string(), "--check=full"});

    BOOST_TEST(result.exit_code == 65);
    const auto report = parse_report(result);
    BOOST_TEST(report.at("check").at("kind") == "integrity_check");
    BOOST_TEST(report.at("check").at("ok") == false);
    BOOST_TEST(!report.at("check").at("problems").empty());
    BOOST_TEST(result.err.starts_with("db-vacuum: error:"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(quick_check_fails_on_overwritten_pages)
{
    const auto db = make_damaged_database(dir / "damaged.db");

    const auto result = vacuum({"--db", db.string(), "--check"});

    BOOST_TEST(result.exit_code == 65);
    const auto report = parse_report(result);
    BOOST_TEST(report.at("check").at("kind") == "quick_check");
    BOOST_TEST(report.at("check").at("ok") == false);
    BOOST_TEST(!report.at("check").at("problems").empty());
}

BOOST_AUTO_TEST_CASE(auto_leaves_a_damaged_database_alone_with_65)
{
    const auto db = make_damaged_database(dir / "damaged.db");
    const auto bytes = file_bytes(db);

    const auto result = vacuum({"--db", db.string(), "--auto"});

    BOOST_TEST(result.exit_code == 65);
    BOOST_TEST(contains(result.err, "quick_check"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(check_passes_on_a_healthy_database)
{
    const auto db = make_database("healthy.db");
    for (const std::string flag : {"--check", "--check=full"}) {
        BOOST_TEST_CONTEXT(flag)
        {
            const auto result = vacuum({"--db", db.string(), flag});

            BOOST_TEST(result.exit_code == 0, result.err);
            const auto report = parse_report(result);
            BOOST_TEST(report.at("check").at("ok") == true);
            BOOST_TEST(report.at("check").at("problems").empty());
        }
    }
}

// --- incremental ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(incremental_on_a_database_without_incremental_auto_vacuum_asks_for_migrate)
{
    const auto db = make_database("none.db");

    const auto result = vacuum({"--db", db.string(), "--incremental"});

    BOOST_TEST(result.exit_code == 65);
    BOOST_TEST(contains(result.err, "--migrate"), result.err);
    BOOST_TEST(query_int(db, "PRAGMA auto_vacuum") == 0);
}

BOOST_AUTO_TEST_CASE(incremental_succeeds_after_migrate)
{
    const auto db = make_database("none.db");
    BOOST_TEST_REQUIRE(vacuum({"--db", db.string(), "--migrate"}).exit_code == 0);

    const auto result = vacuum({"--db", db.string(), "--incremental"});

    BOOST_TEST(result.exit_code == 0, result.err);
}

BOOST_AUTO_TEST_CASE(incremental_frees_every_free_page)
{
    const auto db = make_database("incremental.db", 0);
    make_incremental(db);
    add_free_pages(db, 4 << 20);
    const auto free_before = query_int(db, "PRAGMA freelist_count");
    BOOST_TEST_REQUIRE(free_before > 500);
    const auto before = database_contents(db);

    const auto result = vacuum({"--db", db.string(), "--incremental", "--no-record"});

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto report = parse_report(result);
    BOOST_TEST(report.at("before").at("freelist_pages") == free_before);
    BOOST_TEST(report.at("after").at("freelist_pages") == 0);
    BOOST_TEST(query_int(db, "PRAGMA freelist_count") == 0);
    BOOST_TEST(report.at("reclaimed_bytes").get<std::int64_t>() >= free_before * 4096 / 2);
    check_same_contents(before, database_contents(db));
}

BOOST_AUTO_TEST_CASE(incremental_with_a_count_frees_that_many_pages)
{
    const auto db = make_database("incremental.db", 0);
    make_incremental(db);
    add_free_pages(db, 1 << 20);
    const auto free_before = query_int(db, "PRAGMA freelist_count");
    BOOST_TEST_REQUIRE(free_before > 10);

    const auto result = vacuum({"--db", db.string(), "--incremental=10", "--no-record"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(query_int(db, "PRAGMA freelist_count") == free_before - 10);
}

// --- auto -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(auto_migrates_a_bloated_database)
{
    const auto db = make_database("bloated.db", 8);

    const auto result = vacuum({"--db", db.string(), "--auto"});

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto report = parse_report(result);
    BOOST_TEST(has_step(report, "vacuum"), report.at("steps").dump());
    BOOST_TEST(report.at("after").at("auto_vacuum") == "incremental");
    BOOST_TEST(query_int(db, "PRAGMA auto_vacuum") == 2);
    BOOST_TEST(query_int(db, "PRAGMA freelist_count") == 0);
}

BOOST_AUTO_TEST_CASE(auto_does_not_vacuum_a_migrated_database_again)
{
    const auto db = make_database("bloated.db", 8);
    BOOST_TEST_REQUIRE(vacuum({"--db", db.string(), "--auto"}).exit_code == 0);

    const auto result = vacuum({"--db", db.string(), "--auto"});

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto report = parse_report(result);
    BOOST_TEST(!has_step(report, "vacuum"), report.at("steps").dump());
    BOOST_TEST(has_step(report, "optimize"), report.at("steps").dump());
}

BOOST_AUTO_TEST_CASE(auto_frees_pages_when_the_freelist_exceeds_the_threshold)
{
    const auto db = make_database("migrated.db", 0);
    make_incremental(db);
    add_free_pages(db, 2 << 20);
    const auto free_pages = query_int(db, "PRAGMA freelist_count");

    const auto result = vacuum({"--db", db.string(), "--auto", "--threshold-pages",
                                std::to_string(free_pages - 1), "--threshold-fraction", "0"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(has_step(parse_report(result), "incremental"), result.out);
    BOOST_TEST(query_int(db, "PRAGMA freelist_count") == 0);
}

BOOST_AUTO_TEST_CASE(auto_leaves_free_pages_up_to_the_threshold)
{
    const auto db = make_database("migrated.db", 0);
    make_incremental(db);
    add_free_pages(db, 2 << 20);
    const auto free_pages = query_int(db, "PRAGMA freelist_count");
    const auto page_count = query_int(db, "PRAGMA page_count");

    // freelist_pages > threshold_pages + threshold_fraction * page_count is false here.
    const auto result = vacuum({"--db", db.string(), "--auto", "--threshold-pages",
                                std::to_string(free_pages), "--threshold-fraction", "0"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(!has_step(parse_report(result), "incremental"), result.out);
    // The file keeps its pages; the run's own rows may take a few of the free ones.
    BOOST_TEST(query_int(db, "PRAGMA page_count") == page_count);
}

BOOST_AUTO_TEST_CASE(auto_counts_the_threshold_fraction_of_the_page_count)
{
    const auto db = make_database("migrated.db", 0);
    make_incremental(db);
    add_free_pages(db, 2 << 20);
    const auto free_pages = query_int(db, "PRAGMA freelist_count");
    const auto page_count = query_int(db, "PRAGMA page_count");
    BOOST_TEST_REQUIRE(2 * free_pages > page_count);  // more than half the file is free

    // 0 + 0.5 * page_count < freelist_pages: vacuum; 0 + 0.99 * page_count > freelist: do not.
    const auto above = vacuum({"--db", db.string(), "--auto", "--no-record", "--threshold-pages",
                               "0", "--threshold-fraction", "0.99"});
    BOOST_TEST(above.exit_code == 0, above.err);
    BOOST_TEST(!has_step(parse_report(above), "incremental"), above.out);

    const auto below = vacuum({"--db", db.string(), "--auto", "--no-record", "--threshold-pages",
                               "0", "--threshold-fraction", "0.5"});
    BOOST_TEST(below.exit_code == 0, below.err);
    BOOST_TEST(has_step(parse_report(below), "incremental"), below.out);
}

// --- usage --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unknown_option_is_a_usage_error)
{
    require_usage_error(vacuum({"--db", (dir / "x.db").string(), "--frobnicate"}));
}

BOOST_AUTO_TEST_CASE(two_actions_at_once_are_a_usage_error)
{
    const auto db = make_database("two.db");
    const auto bytes = file_bytes(db);

    require_usage_error(vacuum({"--db", db.string(), "--full", "--migrate"}));
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(unknown_format_is_a_usage_error)
{
    require_usage_error(vacuum({"--db", (dir / "x.db").string(), "--format", "xml"}));
}

BOOST_AUTO_TEST_CASE(bad_option_values_are_usage_errors)
{
    const auto db = (dir / "x.db").string();
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"--db", db, "--check=deep"},
                                               {"--db", db, "--incremental=-1"},
                                               {"--db", db, "--backup", (dir / "b.db").string()},
                                               {"--db", db, "--auto", "--threshold-fraction", "2"},
                                               {"--db", db, "--busy-timeout", "soon"},
                                               {"--db", db, "--full", "--backup", ""},
                                               {"--db", db, "stray-argument"}}) {
        BOOST_TEST_CONTEXT(args.back())
        {
            require_usage_error(vacuum(args));
        }
    }
}

BOOST_AUTO_TEST_CASE(version_names_the_toolkit)
{
    const auto result = vacuum({"--version"});

    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(contains(result.out, "spec-hygiene"), result.out);
    BOOST_TEST(std::count(result.out.begin(), result.out.end(), '\n') == 1);
}

BOOST_AUTO_TEST_CASE(help_lists_the_actions)
{
    const auto result = vacuum({"--help"});

    BOOST_TEST(result.exit_code == 0);
    for (const auto* action :
         {"--migrate", "--incremental", "--full", "--auto", "--checkpoint", "--check"})
        BOOST_TEST(contains(result.out, action), action);
}

// --- configuration ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(config_with_an_unknown_key_is_exit_78)
{
    const auto db = make_database("c.db");
    const auto config = dir / "config.json";
    write_config(config, R"({"db-vacuum": {"threshold_pagez": 10}})");

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 78);
    BOOST_TEST(contains(result.err, "threshold_pagez"), result.err);
}

BOOST_AUTO_TEST_CASE(config_with_a_wrong_type_is_exit_78)
{
    const auto db = make_database("c.db");
    const auto config = dir / "config.json";
    write_config(config, R"({"db-vacuum": {"threshold_pages": "x"}})");

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 78);
    BOOST_TEST(contains(result.err, "threshold_pages"), result.err);
}

BOOST_AUTO_TEST_CASE(missing_config_file_is_exit_66)
{
    const auto db = make_database("c.db");
    const auto config = dir / "no-such-config.json";

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 66);
    BOOST_TEST(contains(result.err, config.string()), result.err);
}

BOOST_AUTO_TEST_CASE(out_of_range_configured_threshold_is_exit_78)
{
    const auto db = make_database("c.db");
    const auto config = dir / "config.json";
    write_config(config, R"({"db-vacuum": {"threshold_fraction": 2}})");

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 78);
    BOOST_TEST(contains(result.err, config.string()), result.err);
}

BOOST_AUTO_TEST_CASE(default_config_file_is_read_from_xdg_config_home)
{
    const auto db = make_database("c.db");
    write_config(config_home / "spec-hygiene" / "config.json", R"({"db-vacuum": {"nonsense": 1}})");

    const auto result = vacuum({"--db", db.string()});

    BOOST_TEST(result.exit_code == 78);
    BOOST_TEST(contains(result.err, (config_home / "spec-hygiene" / "config.json").string()),
               result.err);
}

BOOST_AUTO_TEST_CASE(configured_thresholds_drive_auto_and_flags_win)
{
    const auto db = make_database("migrated.db", 0);
    make_incremental(db);
    add_free_pages(db, 2 << 20);
    const auto free_pages = query_int(db, "PRAGMA freelist_count");
    write_config(config_home / "spec-hygiene" / "config.json",
                 R"({"db-vacuum": {"threshold_pages": 0, "threshold_fraction": 0}})");

    const auto flagged =
        vacuum({"--db", db.string(), "--auto", "--threshold-pages", std::to_string(free_pages)});
    BOOST_TEST(flagged.exit_code == 0, flagged.err);
    BOOST_TEST(!has_step(parse_report(flagged), "incremental"), flagged.out);

    const auto configured = vacuum({"--db", db.string(), "--auto"});
    BOOST_TEST(configured.exit_code == 0, configured.err);
    BOOST_TEST(has_step(parse_report(configured), "incremental"), configured.out);
}

// --- output -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(failed_write_to_stdout_is_exit_74)
{
    const auto db = make_database("full.db");

    const auto result = test_support::run_process(
        {"sh", "-c", R"(exec "$0" "$@" >/dev/full)", DB_VACUUM_BIN, "--db", db.string()}, {},
        environment());

    BOOST_TEST(result.exit_code == 74);
    BOOST_TEST(contains(result.err, "standard output"), result.err);
}

BOOST_AUTO_TEST_CASE(closed_stderr_keeps_the_exit_code)
{
    for (const auto* redirect : {"2>&-", "2>/dev/full"}) {
        BOOST_TEST_CONTEXT(redirect)
        {
            const auto result = test_support::run_process(
                {"sh", "-c", fmt::format(R"(exec "$0" "$@" {})", redirect), DB_VACUUM_BIN, "--db",
                 (dir / "missing.db").string()},
                {}, environment());

            BOOST_TEST(result.exit_code == 66);
        }
    }
}

// --- damaged and unusual files ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(journal_of_a_killed_writer_is_rolled_back_before_status)
{
    const auto db = make_database("hot.db", 1, true, "delete");
    const auto before = database_contents(db);
    // The sqlite3 shell changes every row with a cache too small to hold them, so that the
    // changes reach the file and the journal becomes hot, then is killed before it commits.
    const auto script = dir / "kill.sql";
    write_file(script, "PRAGMA cache_size = 2;\nBEGIN;\n"
                       "UPDATE agent_executions SET response_text = zeroblob(3000);\n"
                       ".system kill -9 $PPID\n");
    test_support::run_process(
        {"sh", "-c", fmt::format("sqlite3 '{}' < '{}'", db.string(), script.string())});
    BOOST_TEST_REQUIRE(fs::exists(db.string() + "-journal"));

    const auto result = vacuum({"--db", db.string()});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(!fs::exists(db.string() + "-journal"));
    check_same_contents(before, database_contents(db));
}

BOOST_AUTO_TEST_CASE(empty_database_file_is_reported_and_left_alone)
{
    // What an application leaves when it has opened its database but not written yet.
    const auto db = dir / "empty.db";
    write_file(db, "");

    const auto result = vacuum({"--db", db.string(), "--auto"});

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto report = parse_report(result);
    BOOST_TEST(report.at("steps") == json::array({"empty-database"}));
    BOOST_TEST(report.at("before").at("page_count") == 0);
    BOOST_TEST(fs::file_size(db) == 0u);
    BOOST_TEST(!fs::exists(db.string() + "-wal"));
}

BOOST_AUTO_TEST_CASE(symlinked_database_reports_the_real_wal)
{
    const auto db = make_database("real.db", 1, false);
    auto writer = Database::open(db);
    writer.exec("INSERT INTO consensus_runs (spec_id, stage, consensus_ok) "
                "VALUES ('SPEC-KIT-990', 'plan', 1)");
    const auto wal = fs::file_size(db.string() + "-wal");
    BOOST_TEST_REQUIRE(wal > 0u);
    fs::create_symlink(db, dir / "link.db");

    const auto result = vacuum({"--db", (dir / "link.db").string()});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result).at("before").at("wal_bytes") == wal);
}

// --- where the database is --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(database_comes_from_spec_hygiene_db_without_db_flag)
{
    const auto db = make_database("env.db");

    const auto result = vacuum({}, {{"SPEC_HYGIENE_DB", db.string()}});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result).at("database") == db.string());
}

BOOST_AUTO_TEST_CASE(db_flag_wins_over_spec_hygiene_db)
{
    const auto flagged = make_database("flag.db");
    const auto from_env = make_database("env.db");

    const auto result =
        vacuum({"--db", flagged.string()}, {{"SPEC_HYGIENE_DB", from_env.string()}});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result).at("database") == flagged.string());
}

BOOST_AUTO_TEST_CASE(environment_wins_over_the_configured_database)
{
    const auto configured = make_database("configured.db");
    const auto from_env = make_database("env.db");
    write_config(config_home / "spec-hygiene" / "config.json",
                 fmt::format(R"({{"common": {{"db": "{}"}}}})", configured.string()));

    const auto with_env = vacuum({}, {{"SPEC_HYGIENE_DB", from_env.string()}});
    const auto without = vacuum({});

    BOOST_TEST(with_env.exit_code == 0, with_env.err);
    BOOST_TEST(parse_report(with_env).at("database") == from_env.string());
    BOOST_TEST(without.exit_code == 0, without.err);
    BOOST_TEST(parse_report(without).at("database") == configured.string());
}

BOOST_AUTO_TEST_CASE(default_database_is_under_xdg_state_home)
{
    const auto expected = dir / "state" / "spec-hygiene" / "hygiene.db";

    const auto result = vacuum({});

    BOOST_TEST(result.exit_code == 66);
    BOOST_TEST(contains(result.err, expected.string()), result.err);
    BOOST_TEST(!fs::exists(expected));
}

BOOST_AUTO_TEST_SUITE_END()
