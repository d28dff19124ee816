// db-vacuum CLI: migrate, status, incremental and auto on healthy databases.
#define BOOST_TEST_MODULE test_cli_db_vacuum_actions
#include <boost/test/unit_test.hpp>

#include "common/schema.hpp"
#include "db_vacuum_cli.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

using namespace db_vacuum_cli;

BOOST_FIXTURE_TEST_SUITE(db_vacuum_cli_actions, Sandbox)

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

BOOST_AUTO_TEST_CASE(next_run_removes_the_temporary_copy_of_a_killed_run)
{
    const auto db = make_database("toolkit.db");
    const auto backup = dir / "backup.db";
    write_file(dir / ".backup.db.kIll3d.tmp", "the start of a copy");
    write_file(dir / ".backup.db.kIll3d.tmp-journal", "its journal");
    write_file(dir / ".backup.db.0rPhan.tmp-journal", "a journal without its copy");
    write_file(dir / ".other.db.kIll3d.tmp", "another backup's copy");

    const auto result = vacuum({"--db", db.string(), "--migrate", "--backup", backup.string()});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(query_int(backup, "PRAGMA user_version") == 2);
    BOOST_TEST(query_int(backup, "SELECT count(*) FROM agent_executions") ==
               query_int(db, "SELECT count(*) FROM agent_executions"));
    std::vector<std::string> temporaries;
    for (const auto& entry : fs::directory_iterator(dir.path()))
        if (contains(entry.path().filename().string(), ".tmp"))
            temporaries.push_back(entry.path().filename());
    // Only the temporaries of this backup's name are its business.
    BOOST_TEST((temporaries == std::vector<std::string>{".other.db.kIll3d.tmp"}));
}

BOOST_AUTO_TEST_CASE(temporary_copy_of_a_running_backup_is_left_alone)
{
    const auto db = make_database("toolkit.db");
    const auto backup = dir / "backup.db";
    const auto live = dir / ".backup.db.L1v3nw.tmp";
    write_file(live, "");
    // A run still copying holds the lock on its partial file.
    const int fd = ::open(live.c_str(), O_RDONLY | O_CLOEXEC);
    BOOST_TEST_REQUIRE(::flock(fd, LOCK_EX) == 0);

    const auto result = vacuum({"--db", db.string(), "--full", "--backup", backup.string()});
    ::close(fd);

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(fs::exists(live));
    BOOST_TEST(fs::exists(backup));
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
    HeldReader reader(db);

    const auto result = vacuum({"--db", db.string(), "--migrate", "--busy-timeout", "100"});

    BOOST_TEST(result.exit_code == 75, result.err);
    BOOST_TEST(contains(result.err, "checkpoint"), result.err);
    reader.release();
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

BOOST_AUTO_TEST_SUITE_END()
