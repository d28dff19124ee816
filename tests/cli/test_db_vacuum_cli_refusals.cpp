// db-vacuum CLI: refused runs (bad input, contention, free space, permissions), each leaving
// the file as it was.
#define BOOST_TEST_MODULE test_cli_db_vacuum_refusals
#include <boost/test/unit_test.hpp>

#include "db_vacuum_cli.hpp"
#include "support/small_file_system.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
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

BOOST_AUTO_TEST_CASE(rollback_journal_database_waits_as_long_as_a_write_would)
{
    // Held for 1 s: longer than one busy timeout of 500 ms, shorter than a write's three
    // attempts and their back-off (about 1.75 s).
    const auto db = make_database("rollback-retried.db", 2, false, "delete");
    ShellWriter writer(db, 1);

    const auto result = vacuum({"--db", db.string(), "--full", "--busy-timeout", "500"});

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

BOOST_AUTO_TEST_CASE(a_rebuild_whose_checkpoint_a_reader_blocks_does_not_call_it_done)
{
    // -v said "checkpoint done in 508 ms" before the 75 that said it could not finish.
    const auto db = make_database("read-during-migrate.db", 1, false);
    HeldReader reader(db);

    const auto result =
        vacuum({"--db", db.string(), "--migrate", "--busy-timeout", "200", "--verbose"});

    BOOST_TEST(result.exit_code == 75, result.err);
    BOOST_TEST(contains(result.err, "checkpoint still busy after"), result.err);
    BOOST_TEST(!contains(result.err, "checkpoint done"), result.err);
    BOOST_TEST(contains(result.err, "WAL checkpoint could not finish"), result.err);
    // The file was rebuilt all the same: stdout says what was done and why it failed.
    const auto report = parse_report(result);
    BOOST_TEST(report.at("steps").dump() == R"(["vacuum","check"])");
    BOOST_TEST(report.at("check").at("ok") == true);
    BOOST_TEST(contains(report.at("error").get<std::string>(), "WAL checkpoint could not finish"),
               report.dump());
    BOOST_TEST(!report.contains("interrupted"));
}

namespace {

// What `file` holds; empty while it does not exist.
std::string read_text(const fs::path& file)
{
    return fs::exists(file) ? file_bytes(file) : std::string();
}

// Reads `file` until it holds `text` or `done` is set; true when it was found.
bool wait_for_text(const fs::path& file, const std::string& text, const std::atomic<bool>& done)
{
    for (int i = 0; i < 3000; ++i) {
        if (contains(read_text(file), text)) return true;
        if (done) return contains(read_text(file), text);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(checkpoint_busy_for_a_moment_is_retried_within_the_busy_timeout)
{
    const auto db = make_database("moment.db", 1, false);
    // A reader on an old snapshot, and a second connection's checkpoint waiting for it while
    // holding the checkpoint lock, which SQLite takes without waiting for it.
    auto reader = Database::open(db, {.mode = OpenMode::read_only});
    reader.exec("BEGIN");
    auto cursor = reader.prepare("SELECT spec_id FROM consensus_runs");
    BOOST_TEST_REQUIRE(cursor.step());
    auto writer = Database::open(db);
    writer.exec("INSERT INTO consensus_runs (spec_id, stage, consensus_ok) "
                "VALUES ('SPEC-KIT-990', 'plan', 1)");
    auto other = Database::open(db, {.busy_timeout_ms = 60000});
    // It tries again while the probe below holds the lock for a moment.
    std::jthread other_checkpoint([&] {
        for (int attempt = 0; attempt < 5000; ++attempt) {
            try {
                other.checkpoint_truncate();
                return;
            } catch (const common::SqliteError& error) {
                if (!error.is_busy()) return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    const auto probe = Database::open(db, {.busy_timeout_ms = 0});
    bool held = false;
    for (int i = 0; i < 3000 && !held; ++i) {
        held = probe.query_int("PRAGMA wal_checkpoint(PASSIVE)") == 1;
        if (!held) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    BOOST_TEST_REQUIRE(held);

    const auto log = dir / "vacuum.err";
    std::atomic<bool> done = false;
    ProcessResult result;
    std::jthread vacuum_run([&] {
        result = test_support::run_process({"sh", "-c", R"(exec "$0" "$@" 2>"$LOG")", DB_VACUUM_BIN,
                                            "--db", db.string(), "--checkpoint", "--verbose",
                                            "--busy-timeout", "30000"},
                                           {}, environment({{"LOG", log.string()}}));
        done = true;
    });
    const bool retried = wait_for_text(log, "checkpoint busy, retrying", done);
    cursor.reset();
    reader.exec("COMMIT");
    vacuum_run.join();
    other_checkpoint.join();

    BOOST_TEST(retried, read_text(log));
    BOOST_TEST(result.exit_code == 0, read_text(log));
    BOOST_TEST(parse_report(result).at("after").at("wal_bytes") == 0);
    BOOST_TEST(fs::file_size(db.string() + "-wal") == 0u);
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

using test_support::can_mount;
using test_support::SmallFileSystem;

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
    SmallFileSystem small(dir / "small", 6);
    BOOST_TEST_REQUIRE(small.mounted());
    // The WAL needs the 3 MiB of live pages plus a margin; the file itself already takes 3
    // of the 6.
    const auto db = dir / "small" / "full.db";
    make_live_database(db);
    const auto bytes = file_bytes(db);

    const auto result = vacuum({"--db", db.string(), "--full"});

    BOOST_TEST(result.exit_code == 74, result.err);
    BOOST_TEST(contains(result.err, "not enough free space"), result.err);
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

BOOST_AUTO_TEST_CASE(a_wal_database_on_a_read_only_mount_is_77,
                     *boost::unit_test::label("needs_mount") *
                         boost::unit_test::precondition(can_mount))
{
    // SQLite's last try, reading the -wal it could not make, said "No such file or
    // directory": exit 66, as if there were no database.
    SmallFileSystem mount(dir / "ro", 4);
    BOOST_TEST_REQUIRE(mount.mounted());
    const auto db = dir / "ro" / "wal.db";
    fs::copy_file(make_database("source.db", 1, true), db);
    BOOST_TEST_REQUIRE(
        test_support::run_process({"mount", "-o", "remount,ro", (dir / "ro").string()}).exit_code ==
        0);
    const auto bytes = file_bytes(db);

    const auto result = vacuum({"--db", db.string(), "--full"});

    BOOST_TEST(result.exit_code == 77, result.err);
    BOOST_TEST(contains(result.err, "is read-only: its folder cannot take the -wal file"),
               result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

// --- names SQLite would read differently ------------------------------------------------------

BOOST_AUTO_TEST_CASE(database_named_like_a_uri_is_that_literal_file)
{
    const auto literal = make_database("file:v.db", 2, false);
    const auto other = make_database("v.db", 2, false);
    const auto other_bytes = file_bytes(other);

    const auto result = vacuum_in(dir.path(), {"--db", "file:v.db", "--full"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(query_int(literal, "PRAGMA freelist_count") == 0);
    BOOST_TEST((file_bytes(other) == other_bytes));
}

BOOST_AUTO_TEST_CASE(database_named_memory_is_that_literal_file)
{
    const auto literal = make_database(":memory:", 1, false);

    const auto result = vacuum_in(dir.path(), {"--db", ":memory:", "--json"});

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto report = parse_report(result);
    BOOST_TEST(report.at("before").at("page_count") == query_int(literal, "PRAGMA page_count"));
    BOOST_TEST(report.at("before").at("page_count") > 0);
}

BOOST_AUTO_TEST_CASE(backup_named_like_a_uri_is_written_to_that_literal_file)
{
    const auto db = make_database("toolkit.db");

    const auto result =
        vacuum_in(dir.path(), {"--db", "toolkit.db", "--full", "--backup", "file:bk.db"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(query_int(dir / "file:bk.db", "SELECT count(*) FROM agent_executions") ==
               query_int(db, "SELECT count(*) FROM agent_executions"));
    BOOST_TEST(!fs::exists(dir / "bk.db"));
    for (const auto& entry : fs::directory_iterator(dir.path()))
        BOOST_TEST(entry.path().filename().string().find(".tmp") == std::string::npos,
                   entry.path());
}

// --- files that are no databases --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fifo_as_database_is_65_without_blocking)
{
    const auto fifo = dir / "pipe.db";
    BOOST_TEST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);

    // Without the check, open() would wait for a writer forever: timeout(1) ends that.
    const auto result = test_support::run_process(
        {"timeout", "20", DB_VACUUM_BIN, "--db", fifo.string(), "--migrate"}, {}, environment());

    BOOST_TEST(result.exit_code == 65, result.err);
    BOOST_TEST(contains(result.err, "FIFO"), result.err);
}

BOOST_AUTO_TEST_CASE(devices_and_proc_files_are_65_and_left_alone)
{
    for (const auto* file : {"/dev/null", "/dev/zero", "/proc/self/status"}) {
        for (const auto* action : {"--json", "--migrate"}) {
            BOOST_TEST_CONTEXT(file << " " << action)
            {
                const auto result = vacuum({"--db", file, action});

                BOOST_TEST(result.exit_code == 65, result.err);
                BOOST_TEST(contains(result.err, file), result.err);
                BOOST_TEST(result.out.empty(), result.out);
                BOOST_TEST(!fs::exists(std::string(file) + "-journal"));
                BOOST_TEST(!fs::exists(std::string(file) + "-wal"));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(socket_as_database_is_65)
{
    const auto path = dir / "s.db";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    BOOST_TEST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);

    const auto result = vacuum({"--db", path.string()});
    ::close(fd);

    BOOST_TEST(result.exit_code == 65, result.err);
    BOOST_TEST(contains(result.err, "socket"), result.err);
}

BOOST_AUTO_TEST_CASE(path_longer_than_sqlite_opens_names_the_reason)
{
    auto folder = dir.path();
    while (folder.string().size() < 520)
        folder /= std::string(40, 'd');
    fs::create_directories(folder);
    const auto db = make_database("short.db", 1, false);
    fs::rename(db, folder / "long.db");

    const auto result = vacuum({"--db", (folder / "long.db").string()});

    BOOST_TEST(result.exit_code == 66, result.err);
    BOOST_TEST(contains(result.err, "bytes long"), result.err);
    BOOST_TEST(!contains(result.err, "permissions"), result.err);
}

// --- backup targets ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(backup_into_an_unwritable_folder_is_73_and_changes_nothing)
{
    // A rollback-journal toolkit database with a lost run: a write would switch it to WAL,
    // upgrade its schema and mark the run.
    const auto work = dir / "work";
    fs::create_directory(work);
    const auto db = make_database("work/toolkit.db", 2, true, "delete");
    const auto locked = dir / "locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
    // Root writes through file modes, so the binary runs as nobody, owner of the database.
    std::vector<std::string> argv;
    if (::geteuid() == 0) {
        for (const auto& path : {work, db})
            BOOST_TEST_REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
        argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
    }
    const auto bytes = file_bytes(db);
    argv.insert(argv.end(), {DB_VACUUM_BIN, "--db", db.string(), "--migrate", "--backup",
                             (locked / "x.bak").string()});

    const auto result = test_support::run_process(argv, {}, environment());

    BOOST_TEST(result.exit_code == 73, result.err);
    BOOST_TEST(contains(result.err, locked.string()), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
    BOOST_TEST(!fs::exists(db.string() + "-wal"));
}

BOOST_AUTO_TEST_CASE(backup_onto_a_read_only_file_system_is_73_and_changes_nothing,
                     *boost::unit_test::label("needs_mount") *
                         boost::unit_test::precondition(can_mount))
{
    SmallFileSystem read_only(dir / "ro", 1, true);
    BOOST_TEST_REQUIRE(read_only.mounted());
    const auto db = make_database("toolkit.db", 2, true, "delete");
    const auto bytes = file_bytes(db);

    const auto result =
        vacuum({"--db", db.string(), "--full", "--backup", (dir / "ro" / "x.bak").string()});

    BOOST_TEST(result.exit_code == 73, result.err);
    BOOST_TEST(contains(result.err, "Read-only file system"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

// --- collations and functions of the owning application --------------------------------------

namespace {

// A rollback-journal database whose index uses the collation "app_order" and whose other index
// calls the function "app_key", both of which only their application defines. SQLite takes
// the schema as written; the indexes' contents stay valid in binary order.
fs::path make_database_of_an_application(const fs::path& file)
{
    {
        auto db = Database::open(file, {.mode = OpenMode::create});
        db.exec("PRAGMA journal_mode=DELETE");
        // As an application makes its file, not in the toolkit's INCREMENTAL mode.
        db.exec("PRAGMA auto_vacuum=NONE; VACUUM");
        db.exec("CREATE TABLE items (name TEXT, code TEXT);"
                "CREATE INDEX items_name ON items (name);"
                "CREATE INDEX items_code ON items (lower(code));"
                "INSERT INTO items VALUES ('a', 'X'), ('b', 'Y');"
                "CREATE TABLE scratch (b BLOB);"
                "INSERT INTO scratch VALUES (zeroblob(200000));"
                "DROP TABLE scratch;"
                "PRAGMA writable_schema = ON;"
                "UPDATE sqlite_schema SET sql = 'CREATE INDEX items_name ON items (name COLLATE "
                "app_order)' WHERE name = 'items_name';"
                "UPDATE sqlite_schema SET sql = 'CREATE INDEX items_code ON items (app_key(code))' "
                "WHERE name = 'items_code';"
                "PRAGMA writable_schema = OFF;");
    }
    return file;
}

}  // namespace

BOOST_AUTO_TEST_CASE(application_collations_and_functions_refuse_a_rebuild_with_65)
{
    const auto db = make_database_of_an_application(dir / "app.db");
    const auto bytes = file_bytes(db);
    for (const auto* action : {"--migrate", "--full", "--auto", "--check", "--check=full"}) {
        BOOST_TEST_CONTEXT(action)
        {
            const auto result = vacuum({"--db", db.string(), action});

            BOOST_TEST(result.exit_code == 65, result.err);
            BOOST_TEST(contains(result.err, "\"app_order\""), result.err);
            BOOST_TEST(contains(result.err, "\"app_key\""), result.err);
            BOOST_TEST(contains(result.err, "application"), result.err);
            BOOST_TEST((file_bytes(db) == bytes));
            BOOST_TEST(!fs::exists(db.string() + "-wal"));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
