// db-vacuum CLI: refused runs (bad input, contention, free space, permissions), each leaving
// the file as it was.
#define BOOST_TEST_MODULE test_cli_db_vacuum_refusals
#include <boost/test/unit_test.hpp>

#include "db_vacuum_cli.hpp"

#include <cstdio>
#include <sys/mount.h>
#include <unistd.h>

using namespace db_vacuum_cli;

BOOST_FIXTURE_TEST_SUITE(db_vacuum_cli_refusals, Sandbox)

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
// that need it are skipped, and say so.
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
                     *boost::unit_test::precondition(can_mount))
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
                     *boost::unit_test::precondition(can_mount))
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

BOOST_AUTO_TEST_SUITE_END()
