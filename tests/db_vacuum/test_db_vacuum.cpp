#define BOOST_TEST_MODULE db_vacuum_core
#include <boost/test/unit_test.hpp>

#include "common/schema.hpp"
#include "common/sqlite.hpp"
#include "db_vacuum.hpp"
#include "fixture.hpp"
#include "support/small_file_system.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string>
#include <vector>

using common::Database;
using db_vacuum::Action;
using db_vacuum::Options;
using test_support::TempDir;

namespace {

constexpr std::uint64_t mib = 1 << 20;

Database bloated(const TempDir& dir, std::uint64_t bloat_bytes = 8 * mib, bool toolkit = true)
{
    fixture::make_upstream_database(
        dir / "t.db", {.bloat_bytes = bloat_bytes, .specs = 4, .toolkit_schema = toolkit});
    return Database::open(dir / "t.db");
}

Options with_action(Action action)
{
    Options options;
    options.action = action;
    return options;
}

// Frees pages in an incremental-mode database by filling and dropping a table.
void add_free_pages(Database& db, std::uint64_t bytes)
{
    db.exec("CREATE TABLE scratch (b BLOB)");
    auto insert = db.prepare("INSERT INTO scratch VALUES (zeroblob(?))");
    for (std::uint64_t i = 0; i < bytes / 65536; ++i) {
        insert.bind(1, 65536).run();
        insert.reset();
    }
    db.exec("DROP TABLE scratch");
}

// A database whose index `t_b` no longer matches its table (rewritten to cover another column)
// and whose table `u` holds a NULL where its schema now says NOT NULL; one table's name needs
// quoting.
void damage_an_index_and_a_table(const std::filesystem::path& file)
{
    auto db = Database::open(file, {.mode = common::OpenMode::create});
    db.exec("CREATE TABLE t (a INTEGER, b TEXT); CREATE INDEX t_b ON t (b);"
            "INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z');"
            "CREATE TABLE u (x, y); CREATE INDEX u_x ON u (x);"
            "INSERT INTO u VALUES (1, NULL), (2, 'b');"
            "CREATE TABLE \"we\"\"ird name\" (k TEXT UNIQUE); INSERT INTO \"we\"\"ird name\" "
            "VALUES ('k');"
            "PRAGMA writable_schema=ON;"
            "UPDATE sqlite_schema SET sql = 'CREATE INDEX t_b ON t (a)' WHERE name = 't_b';"
            "UPDATE sqlite_schema SET sql = 'CREATE TABLE u (x, y NOT NULL)' WHERE name = 'u';"
            "PRAGMA writable_schema=OFF;");
}

std::vector<std::string> sorted(std::vector<std::string> lines)
{
    std::sort(lines.begin(), lines.end());
    return lines;
}

bool has_step(const db_vacuum::Report& report, const std::string& step)
{
    return std::find(report.steps.begin(), report.steps.end(), step) != report.steps.end();
}

}  // namespace

BOOST_AUTO_TEST_CASE(status_reports_pages_and_modes)
{
    TempDir dir;
    auto db = bloated(dir);
    const auto status = db_vacuum::read_status(db);
    BOOST_TEST(status.page_size == 4096);
    BOOST_TEST(status.freelist_pages > 2000);
    BOOST_TEST(status.freelist_bytes() == static_cast<std::uint64_t>(status.freelist_pages) * 4096);
    BOOST_TEST(status.auto_vacuum == "none");
    BOOST_TEST(status.user_version == 2);
    BOOST_TEST(status.toolkit_schema_version.value_or(0) == common::schema::current_version);
}

BOOST_AUTO_TEST_CASE(migrate_switches_to_incremental_and_frees_every_page)
{
    TempDir dir;
    auto db = bloated(dir);
    const auto report = db_vacuum::perform(db, with_action(Action::migrate));
    BOOST_REQUIRE(report.after.has_value());
    BOOST_TEST(report.after->auto_vacuum == "incremental");
    BOOST_TEST(report.after->freelist_pages == 0);
    // The 8 MiB of bloat, less a few pages that the toolkit's own tables and indexes take.
    BOOST_TEST(report.reclaimed_bytes() >= 8 * mib - 64 * 1024);
    BOOST_REQUIRE(report.check.has_value());
    BOOST_TEST(report.check->ok());
    BOOST_TEST(db.query_int("PRAGMA auto_vacuum") == 2);
}

BOOST_AUTO_TEST_CASE(migrate_of_an_incremental_database_does_nothing)
{
    TempDir dir;
    auto db = bloated(dir);
    db_vacuum::perform(db, with_action(Action::migrate));
    const auto again = db_vacuum::perform(db, with_action(Action::migrate));
    BOOST_TEST((again.steps == std::vector<std::string>{"already-incremental", "checkpoint"}));
}

BOOST_AUTO_TEST_CASE(migrate_with_backup_writes_a_copy_with_every_row)
{
    TempDir dir;
    auto db = bloated(dir);
    const auto rows = db.query_rows("SELECT * FROM agent_executions ORDER BY agent_id");
    auto options = with_action(Action::migrate);
    options.backup = dir / "backup.db";
    const auto report = db_vacuum::perform(db, options);
    BOOST_TEST(report.backup.value_or("") == (dir / "backup.db").string());
    auto copy = Database::open(dir / "backup.db", {.mode = common::OpenMode::read_only});
    BOOST_TEST((copy.query_rows("SELECT * FROM agent_executions ORDER BY agent_id") == rows));
    BOOST_TEST(copy.query_int("PRAGMA user_version") == 2);
}

BOOST_AUTO_TEST_CASE(existing_backup_target_is_refused_with_73_and_nothing_changes)
{
    TempDir dir;
    auto db = bloated(dir);
    test_support::write_file(dir / "backup.db", "precious");
    auto options = with_action(Action::migrate);
    options.backup = dir / "backup.db";
    try {
        db_vacuum::perform(db, options);
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 73);
    }
    BOOST_TEST(test_support::file_bytes(dir / "backup.db") == "precious");
    BOOST_TEST(db.query_int("PRAGMA auto_vacuum") == 0);
}

BOOST_AUTO_TEST_CASE(incremental_frees_the_requested_number_of_pages)
{
    TempDir dir;
    auto db = bloated(dir);
    db_vacuum::perform(db, with_action(Action::migrate));
    add_free_pages(db, 2 * mib);
    const auto free_before = db.query_int("PRAGMA freelist_count");
    BOOST_REQUIRE(free_before > 100);
    auto options = with_action(Action::incremental);
    options.incremental_pages = 100;
    const auto report = db_vacuum::perform(db, options);
    BOOST_TEST(report.after->freelist_pages == free_before - 100);
    BOOST_TEST(report.after->page_count == report.before.page_count - 100);
}

BOOST_AUTO_TEST_CASE(incremental_on_a_database_without_incremental_mode_is_65)
{
    TempDir dir;
    auto db = bloated(dir);
    try {
        db_vacuum::perform(db, with_action(Action::incremental));
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 65);
        BOOST_TEST(std::string(error.what()).find("--migrate") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(auto_below_threshold_only_checkpoints_and_optimizes)
{
    TempDir dir;
    auto db = bloated(dir);
    db_vacuum::perform(db, with_action(Action::migrate));
    add_free_pages(db, mib / 2);  // 128 pages: under the default 256
    const auto report = db_vacuum::perform(db, with_action(Action::automatic));
    BOOST_TEST((report.steps == std::vector<std::string>{"optimize", "checkpoint"}));
    BOOST_TEST(report.after->freelist_pages == report.before.freelist_pages);
}

BOOST_AUTO_TEST_CASE(auto_above_threshold_vacuums_incrementally)
{
    TempDir dir;
    auto db = bloated(dir);
    db_vacuum::perform(db, with_action(Action::migrate));
    add_free_pages(db, 4 * mib);
    const auto report = db_vacuum::perform(db, with_action(Action::automatic));
    BOOST_TEST(has_step(report, "incremental"));
    BOOST_TEST(!has_step(report, "vacuum"));
    BOOST_TEST(report.after->freelist_pages == 0);
}

BOOST_AUTO_TEST_CASE(auto_threshold_fraction_counts_the_file_size)
{
    TempDir dir;
    auto db = bloated(dir);
    db_vacuum::perform(db, with_action(Action::migrate));
    add_free_pages(db, 4 * mib);
    auto options = with_action(Action::automatic);
    options.threshold_pages = 0;
    options.threshold_fraction = 1.0;  // free pages can never exceed the page count
    const auto report = db_vacuum::perform(db, options);
    BOOST_TEST(!has_step(report, "incremental"));
}

BOOST_AUTO_TEST_CASE(auto_leaves_an_empty_wal)
{
    TempDir dir;
    auto db = bloated(dir);
    db_vacuum::perform(db, with_action(Action::automatic));
    const auto again = db_vacuum::perform(db, with_action(Action::automatic));
    BOOST_TEST(again.after->wal_bytes == 0u);
}

BOOST_AUTO_TEST_CASE(auto_on_a_database_never_migrated_migrates_it)
{
    TempDir dir;
    auto db = bloated(dir);
    const auto report = db_vacuum::perform(db, with_action(Action::automatic));
    BOOST_TEST(has_step(report, "vacuum"));
    BOOST_TEST(has_step(report, "optimize"));
    BOOST_TEST(report.after->auto_vacuum == "incremental");
}

BOOST_AUTO_TEST_CASE(full_vacuum_keeps_the_mode_and_frees_pages)
{
    TempDir dir;
    auto db = bloated(dir);
    const auto report = db_vacuum::perform(db, with_action(Action::full));
    BOOST_TEST(report.after->auto_vacuum == "none");
    BOOST_TEST(report.after->freelist_pages == 0);
}

BOOST_AUTO_TEST_CASE(run_is_recorded_in_maintenance_runs_with_its_summary)
{
    TempDir dir;
    auto db = bloated(dir);
    const auto report = db_vacuum::perform(db, with_action(Action::migrate));
    const auto now = std::chrono::system_clock::now();
    BOOST_TEST(db_vacuum::record_run(db, report, now, now));
    BOOST_TEST(db.query_text("SELECT tool FROM maintenance_runs") == "db-vacuum");
    BOOST_TEST(db.query_text("SELECT outcome FROM maintenance_runs") == "ok");
    BOOST_TEST(db.query_text("SELECT json_extract(summary, '$.action') FROM maintenance_runs") ==
               "migrate");
    BOOST_TEST(
        db.query_int("SELECT json_extract(summary, '$.reclaimed_bytes') FROM maintenance_runs") ==
        static_cast<std::int64_t>(report.reclaimed_bytes()));
}

BOOST_AUTO_TEST_CASE(foreign_database_gets_no_toolkit_tables)
{
    TempDir dir;
    auto db = bloated(dir, 2 * mib, false);
    const auto report = db_vacuum::perform(db, with_action(Action::migrate));
    BOOST_TEST(!db_vacuum::record_run(db, report, std::chrono::system_clock::now(),
                                      std::chrono::system_clock::now()));
    BOOST_TEST(!db.table_exists("maintenance_runs"));
    BOOST_TEST(!db.table_exists("spec_hygiene_schema"));
    BOOST_TEST(db.query_int("PRAGMA user_version") == 2);
}

BOOST_AUTO_TEST_CASE(check_of_a_healthy_database_is_ok)
{
    TempDir dir;
    auto db = bloated(dir);
    BOOST_TEST(db_vacuum::run_check(db, db_vacuum::CheckKind::quick).ok());
    BOOST_TEST(db_vacuum::run_check(db, db_vacuum::CheckKind::full).ok());
}

BOOST_AUTO_TEST_CASE(integrity_check_spread_over_connections_finds_what_one_check_finds)
{
    TempDir dir;
    damage_an_index_and_a_table(dir / "d.db");
    const auto db = Database::open(dir / "d.db");

    const auto one = db_vacuum::run_check(db, db_vacuum::CheckKind::full, 1);
    const auto spread = db_vacuum::run_check(db, db_vacuum::CheckKind::full, 3);

    BOOST_TEST(!spread.ok());
    BOOST_TEST(sorted(spread.problems) == sorted(one.problems));
    const std::vector<std::string> expected{"NULL value in u.y", "row 1 missing from index t_b",
                                            "row 2 missing from index t_b",
                                            "row 3 missing from index t_b"};
    BOOST_TEST(sorted(spread.problems) == expected);
}

BOOST_AUTO_TEST_CASE(integrity_check_spread_over_connections_is_ok_on_a_healthy_database)
{
    TempDir dir;
    auto db = bloated(dir);
    const auto check = db_vacuum::run_check(db, db_vacuum::CheckKind::full, 4);
    BOOST_TEST(check.ok(), fmt::format("{}", fmt::join(check.problems, "; ")));
}

BOOST_AUTO_TEST_CASE(failed_run_is_recorded_as_failed_with_its_error)
{
    TempDir dir;
    auto db = bloated(dir);
    db_vacuum::Report report;
    report.action = Action::full;
    report.steps = {"vacuum"};
    const auto now = std::chrono::system_clock::now();
    BOOST_TEST(db_vacuum::record_run(db, report, now, now, "disk full"));
    BOOST_TEST(db.query_text("SELECT outcome FROM maintenance_runs") == "failed");
    BOOST_TEST(db.query_text("SELECT json_extract(summary, '$.error') FROM maintenance_runs") ==
               "disk full");
}

BOOST_AUTO_TEST_CASE(rebuild_copies_in_memory_when_a_quarter_of_the_memory_holds_the_live_pages,
                     *boost::unit_test::label("needs_mount") *
                         boost::unit_test::precondition(test_support::can_mount))
{
    TempDir dir;
    test_support::SmallFileSystem small(dir / "small-tmp", 2);
    BOOST_TEST_REQUIRE(small.mounted());
    auto db = Database::open(dir / "live.db", {.mode = common::OpenMode::create});
    db.exec("CREATE TABLE t (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
            "SELECT i + 1 FROM n WHERE i < 48) INSERT INTO t SELECT randomblob(65536) FROM n");
    const auto options = with_action(Action::full);
    const auto refused = [](const common::Error& error) {
        return error.code() == common::Exit::io &&
               std::string(error.what()).find("small-tmp") != std::string::npos;
    };

    // 3 MiB of live pages: no room in the 2 MiB folder, and memory unknown or too small.
    BOOST_CHECK_EXCEPTION(db_vacuum::preflight(db, options, {.sqlite_temp_dir = dir / "small-tmp"}),
                          common::Error, refused);
    BOOST_CHECK_EXCEPTION(
        db_vacuum::preflight(db, options,
                             {.sqlite_temp_dir = dir / "small-tmp", .available_memory = 8 * mib}),
        common::Error, refused);
    // Memory enough: in memory, whatever room the folder has.
    for (const auto& folder : {dir / "small-tmp", dir.path()}) {
        const auto found = db_vacuum::preflight(
            db, options, {.sqlite_temp_dir = folder, .available_memory = 1024 * mib});
        BOOST_TEST(found.plan.temp_in_memory, folder);
    }
    // Memory unknown or too small and room in the folder: on disk.
    BOOST_TEST(
        !db_vacuum::preflight(db, options, {.sqlite_temp_dir = dir.path()}).plan.temp_in_memory);
    BOOST_TEST(!db_vacuum::preflight(db, options,
                                     {.sqlite_temp_dir = dir.path(), .available_memory = 8 * mib})
                    .plan.temp_in_memory);
}
