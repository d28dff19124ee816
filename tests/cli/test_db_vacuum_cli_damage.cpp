// db-vacuum CLI: damaged and unusual files: checks, hot journals, empty files, symlinks.
#define BOOST_TEST_MODULE test_cli_db_vacuum_damage
#include <boost/test/unit_test.hpp>

#include "db_vacuum_cli.hpp"

#include <fstream>

using namespace db_vacuum_cli;

BOOST_FIXTURE_TEST_SUITE(db_vacuum_cli_damage, Sandbox)

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

BOOST_AUTO_TEST_CASE(migrate_of_a_database_with_a_broken_index_and_table_is_65_listing_both)
{
    const auto db = dir / "broken.db";
    {
        auto writer = Database::open(db, {.mode = OpenMode::create});
        // A database the toolkit creates is INCREMENTAL from birth: this one needs --migrate.
        writer.exec("PRAGMA auto_vacuum=NONE; VACUUM;"
                    "CREATE TABLE t (a INTEGER, b TEXT); CREATE INDEX t_b ON t (b);"
                    "INSERT INTO t VALUES (1, 'x'), (2, 'y');"
                    "CREATE TABLE u (x, y); INSERT INTO u VALUES (1, NULL);"
                    "PRAGMA writable_schema=ON;"
                    "UPDATE sqlite_schema SET sql = 'CREATE INDEX t_b ON t (a)' WHERE name = 't_b';"
                    "UPDATE sqlite_schema SET sql = 'CREATE TABLE u (x, y NOT NULL)' "
                    "WHERE name = 'u';"
                    "PRAGMA writable_schema=OFF;");
    }

    const auto result = vacuum({"--db", db.string(), "--migrate", "--json"});

    BOOST_TEST(result.exit_code == 65, result.err);
    BOOST_TEST(contains(result.err, "integrity_check after the rebuild found 3 problem(s)"),
               result.err);
    auto problems = parse_report(result).at("check").at("problems").get<std::vector<std::string>>();
    std::sort(problems.begin(), problems.end());
    const std::vector<std::string> expected{"NULL value in u.y", "row 1 missing from index t_b",
                                            "row 2 missing from index t_b"};
    BOOST_TEST(problems == expected);
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

BOOST_AUTO_TEST_CASE(a_damaged_rollback_journal_file_refused_by_an_action_is_left_as_it_was)
{
    // The rebuild's 65 once came after the file had been switched to WAL for good.
    for (const auto* action : {"--full", "--migrate", "--incremental", "--checkpoint"}) {
        BOOST_TEST_CONTEXT(action)
        {
            const auto db = make_damaged_database(dir / "damaged.db");
            const auto bytes = file_bytes(db);

            const auto result = vacuum({"--db", db.string(), action, "--no-record"});

            BOOST_TEST(result.exit_code == 65, result.err);
            BOOST_TEST(contains(result.err, "quick_check found"), result.err);
            BOOST_TEST((file_bytes(db) == bytes));
            BOOST_TEST(!fs::exists(db.string() + "-wal"));
            fs::remove(db);
        }
    }
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

BOOST_AUTO_TEST_SUITE_END()
