#define BOOST_TEST_MODULE common_sqlite
#include <boost/test/unit_test.hpp>

#include "common/sqlite.hpp"
#include "support/temp_dir.hpp"

#include <atomic>
#include <limits>
#include <optional>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using common::Database;
using common::Exit;
using common::OpenMode;
using test_support::TempDir;

namespace {

Database make_db(const TempDir& dir, int busy_timeout_ms = 5000)
{
    auto db = Database::open(dir / "t.db",
                             {.mode = OpenMode::create, .busy_timeout_ms = busy_timeout_ms});
    db.exec("CREATE TABLE IF NOT EXISTS t (v INTEGER)");
    return db;
}

std::int64_t count_rows(const Database& db)
{
    return db.query_int("SELECT count(*) FROM t");
}

}  // namespace

BOOST_AUTO_TEST_CASE(connection_uses_wal_normal_sync_and_foreign_keys)
{
    TempDir dir;
    auto db = make_db(dir);
    BOOST_TEST(db.query_text("PRAGMA journal_mode") == "wal");
    BOOST_TEST(db.query_int("PRAGMA synchronous") == 1);
    BOOST_TEST(db.query_int("PRAGMA foreign_keys") == 1);
    BOOST_TEST(db.query_int("PRAGMA busy_timeout") == 5000);
}

BOOST_AUTO_TEST_CASE(a_new_database_is_private_whatever_the_umask_and_incremental_from_birth)
{
    TempDir dir;
    const auto path = dir / "state" / "spec-hygiene" / "hygiene.db";
    const mode_t saved = ::umask(0);
    {
        auto db = common::Database::open(path, {.mode = common::OpenMode::create});
        db.exec("CREATE TABLE t (x)");
        db.exec("INSERT INTO t VALUES (1)");
        const auto mode_of = [](const std::filesystem::path& file) {
            struct stat info {};
            BOOST_TEST_REQUIRE(::stat(file.c_str(), &info) == 0, file);
            return info.st_mode & 07777;
        };
        BOOST_TEST(mode_of(dir / "state") == 0700u);
        BOOST_TEST(mode_of(path.parent_path()) == 0700u);
        BOOST_TEST(mode_of(path) == 0600u);
        BOOST_TEST(mode_of(path.string() + "-wal") == 0600u);
        BOOST_TEST(mode_of(path.string() + "-shm") == 0600u);
        BOOST_TEST(db.query_int("PRAGMA auto_vacuum") == 2);  // INCREMENTAL
    }
    ::umask(saved);
}

BOOST_AUTO_TEST_CASE(transaction_commits)
{
    TempDir dir;
    auto db = make_db(dir);
    {
        common::Transaction tx(db);
        db.exec("INSERT INTO t VALUES (1)");
        tx.commit();
    }
    BOOST_TEST(count_rows(make_db(dir)) == 1);
}

BOOST_AUTO_TEST_CASE(transaction_rolls_back_on_exception)
{
    TempDir dir;
    auto db = make_db(dir);
    try {
        common::Transaction tx(db);
        db.exec("INSERT INTO t VALUES (1)");
        throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    BOOST_TEST(count_rows(db) == 0);
}

BOOST_AUTO_TEST_CASE(rollback_after_rollback_is_safe)
{
    TempDir dir;
    auto db = make_db(dir);
    common::Transaction tx(db);
    db.exec("INSERT INTO t VALUES (1)");
    tx.rollback();
    BOOST_CHECK_NO_THROW(tx.rollback());
    BOOST_TEST(tx.finished());
    BOOST_TEST(count_rows(db) == 0);
}

BOOST_AUTO_TEST_CASE(write_transaction_rolls_back_when_body_throws)
{
    TempDir dir;
    auto db = make_db(dir);
    BOOST_CHECK_THROW(common::write_transaction(db,
                                                [&] {
                                                    db.exec("INSERT INTO t VALUES (1)");
                                                    throw common::Error(Exit::data, "bad row");
                                                }),
                      common::Error);
    BOOST_TEST(count_rows(db) == 0);
}

// A busy timeout changed after the open keeps the stop: a signal still ends the wait at once.
BOOST_AUTO_TEST_CASE(a_changed_busy_timeout_still_ends_its_wait_when_stopped)
{
    TempDir dir;
    auto holder = make_db(dir);
    std::atomic<bool> stop{false};
    auto waiter = Database::open(dir / "t.db", {.mode = OpenMode::read_write, .stop = &stop});
    common::Transaction held(holder);
    holder.exec("INSERT INTO t VALUES (1)");

    waiter.set_busy_timeout(600000);
    BOOST_TEST(waiter.busy_timeout_ms() == 600000);
    stop = true;
    try {
        waiter.exec("BEGIN IMMEDIATE");
        BOOST_FAIL("the write should have been refused");
    } catch (const common::SqliteError& error) {
        BOOST_TEST(error.is_busy());
    }
}

BOOST_AUTO_TEST_CASE(busy_write_is_retried_three_times_then_exit_75)
{
    TempDir dir;
    auto holder = make_db(dir);
    auto waiter = make_db(dir, 10);
    common::Transaction held(holder);
    holder.exec("INSERT INTO t VALUES (1)");

    int bodies = 0;
    std::vector<int> retried;
    try {
        common::write_transaction(
            waiter,
            [&] {
                ++bodies;
                waiter.exec("INSERT INTO t VALUES (2)");
            },
            {.attempts = 3,
             .initial = std::chrono::milliseconds(5),
             .factor = 1.5,
             .on_retry = [&](int attempt, std::chrono::milliseconds, const common::SqliteError&) {
                 retried.push_back(attempt);
             }});
        BOOST_FAIL("the write should have failed");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 75);
        BOOST_TEST(std::string(error.what()).find("busy") != std::string::npos);
    }
    // Attempts 1 and 2 were followed by a retry; the third gave up.
    BOOST_TEST((retried == std::vector<int>{1, 2}));
    // BEGIN IMMEDIATE itself is refused, so the body never ran.
    BOOST_TEST(bodies == 0);
    held.rollback();
    BOOST_TEST(count_rows(waiter) == 0);
}

BOOST_AUTO_TEST_CASE(retry_counts_each_attempt_and_succeeds_when_the_lock_goes)
{
    int attempts = 0;
    common::retry_busy(
        [&] {
            if (++attempts < 3) throw common::SqliteError(5 /* SQLITE_BUSY */, "busy");
        },
        {.attempts = 3, .initial = std::chrono::milliseconds(1), .factor = 1.5});
    BOOST_TEST(attempts == 3);
}

BOOST_AUTO_TEST_CASE(other_errors_are_not_retried)
{
    int attempts = 0;
    BOOST_CHECK_THROW(common::retry_busy([&] {
                          ++attempts;
                          throw common::SqliteError(19 /* SQLITE_CONSTRAINT */, "constraint");
                      }),
                      common::SqliteError);
    BOOST_TEST(attempts == 1);
}

BOOST_AUTO_TEST_CASE(sql_error_names_the_statement_and_database)
{
    TempDir dir;
    auto db = make_db(dir);
    try {
        db.exec("INSERT INTO missing_table VALUES (1)");
        BOOST_FAIL("expected an error");
    } catch (const common::SqliteError& error) {
        const std::string message = error.what();
        BOOST_TEST(message.find("missing_table") != std::string::npos);
        BOOST_TEST(message.find("t.db") != std::string::npos);
        BOOST_TEST(static_cast<int>(error.code()) == 70);
    }
}

BOOST_AUTO_TEST_CASE(result_codes_map_to_exit_codes)
{
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(5)) == 75);    // BUSY
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(6)) == 75);    // LOCKED
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(517)) == 75);  // BUSY_SNAPSHOT
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(14)) == 66);   // CANTOPEN
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(11)) == 65);   // CORRUPT
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(26)) == 65);   // NOTADB
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(10)) == 74);   // IOERR
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(13)) == 74);   // FULL
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(8)) == 77);    // READONLY
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(3)) == 77);    // PERM
    BOOST_TEST(static_cast<int>(common::exit_for_sqlite(1)) == 70);    // ERROR
}

BOOST_AUTO_TEST_CASE(missing_file_is_exit_66_and_not_created)
{
    TempDir dir;
    try {
        Database::open(dir / "absent.db");
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 66);
    }
    BOOST_TEST(!std::filesystem::exists(dir / "absent.db"));
}

BOOST_AUTO_TEST_CASE(not_a_database_is_exit_65_and_unchanged)
{
    TempDir dir;
    const std::string text(8192, 'x');
    test_support::write_file(dir / "notes.db", text);
    try {
        Database::open(dir / "notes.db");
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 65);
        BOOST_TEST(std::string(error.what()).find("not a SQLite database") != std::string::npos);
    }
    BOOST_TEST(test_support::file_bytes(dir / "notes.db") == text);
}

// Processes that find no database and create it at the same moment: the file one of them
// has just made is empty to the others' stat and full by their next read, which is a database
// being born, not a /proc file.
BOOST_AUTO_TEST_CASE(processes_creating_one_database_at_once_all_open_it)
{
    constexpr int rounds = 30;
    constexpr int creators = 12;
    int failed = 0;
    for (int round = 0; round < rounds; ++round) {
        TempDir dir;
        const auto path = dir / "new.db";
        int go[2];
        BOOST_TEST_REQUIRE(::pipe(go) == 0);
        std::vector<pid_t> children;
        for (int i = 0; i < creators; ++i) {
            const pid_t child = ::fork();
            BOOST_TEST_REQUIRE(child >= 0);
            if (child == 0) {
                ::close(go[1]);
                char byte = 0;
                // Returns when the parent closes its end, so that all start together.
                if (::read(go[0], &byte, 1) < 0) ::_exit(2);
                try {
                    auto db = Database::open(path, {.mode = OpenMode::create});
                    db.exec("CREATE TABLE IF NOT EXISTS t (v INTEGER)");
                    ::_exit(0);
                } catch (...) {
                    ::_exit(1);
                }
            }
            children.push_back(child);
        }
        ::close(go[0]);
        ::close(go[1]);
        for (const pid_t child : children) {
            int status = 0;
            ::waitpid(child, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
        }
        BOOST_TEST(Database::open(path).query_int("PRAGMA auto_vacuum") == 2);  // INCREMENTAL
    }
    BOOST_TEST(failed == 0);
}

BOOST_AUTO_TEST_CASE(create_mode_makes_parent_folders)
{
    TempDir dir;
    auto db = Database::open(dir / "a" / "b" / "new.db", {.mode = OpenMode::create});
    BOOST_TEST(std::filesystem::exists(dir / "a" / "b" / "new.db"));
}

BOOST_AUTO_TEST_CASE(read_only_connection_cannot_write)
{
    TempDir dir;
    make_db(dir);
    auto reader = Database::open(dir / "t.db", {.mode = OpenMode::read_only});
    try {
        reader.exec("INSERT INTO t VALUES (1)");
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 77);
    }
}

BOOST_AUTO_TEST_CASE(checkpoint_blocked_by_reader_is_busy_not_success)
{
    TempDir dir;
    auto writer = make_db(dir, 20);
    writer.exec("INSERT INTO t VALUES (1)");
    auto reader = Database::open(dir / "t.db", {.mode = OpenMode::read_only});
    reader.exec("BEGIN");
    BOOST_TEST(reader.query_int("SELECT count(*) FROM t") == 1);
    writer.exec("INSERT INTO t VALUES (2)");
    try {
        writer.checkpoint_truncate();
        BOOST_FAIL("a blocked checkpoint must not succeed");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 75);
    }
    reader.exec("COMMIT");
    const auto result = writer.checkpoint_truncate();
    BOOST_TEST(result.wal_frames == 0);
}

BOOST_AUTO_TEST_CASE(values_round_trip_with_their_types)
{
    TempDir dir;
    auto db = make_db(dir);
    db.exec("CREATE TABLE v (a, b, c, d, e)");
    auto insert = db.prepare("INSERT INTO v VALUES (?, ?, ?, ?, x'00ff')");
    insert.bind(1, 42).bind(2, 1.5).bind(3, "text").bind(4, nullptr).run();
    const auto rows = db.query_rows("SELECT * FROM v");
    BOOST_REQUIRE(rows.size() == 1);
    BOOST_TEST(std::get<std::int64_t>(rows[0][0]) == 42);
    BOOST_TEST(std::get<double>(rows[0][1]) == 1.5);
    BOOST_TEST(std::get<std::string>(rows[0][2]) == "text");
    BOOST_TEST(std::holds_alternative<std::nullptr_t>(rows[0][3]));
    BOOST_TEST(
        (std::get<common::Blob>(rows[0][4]).bytes == std::vector<unsigned char>{0x00, 0xff}));
}

BOOST_AUTO_TEST_CASE(every_integer_type_binds_without_a_cast)
{
    TempDir dir;
    auto db = make_db(dir);
    db.exec("CREATE TABLE n (a, b, c, d, e, f)");
    const std::size_t bytes = 5'000'000'000;
    const std::uint64_t big = 9'223'372'036'854'775'807ull;
    const unsigned small = 7;
    const long long negative = -3;
    db.prepare("INSERT INTO n VALUES (?, ?, ?, ?, ?, ?)")
        .bind(1, bytes)
        .bind(2, big)
        .bind(3, small)
        .bind(4, negative)
        .bind(5, true)
        .bind(6, std::optional<std::size_t>{})
        .run();
    const auto rows = db.query_rows("SELECT * FROM n");
    BOOST_TEST(std::get<std::int64_t>(rows[0][0]) == 5'000'000'000);
    BOOST_TEST(std::get<std::int64_t>(rows[0][1]) == 9'223'372'036'854'775'807);
    BOOST_TEST(std::get<std::int64_t>(rows[0][2]) == 7);
    BOOST_TEST(std::get<std::int64_t>(rows[0][3]) == -3);
    BOOST_TEST(std::get<std::int64_t>(rows[0][4]) == 1);
    BOOST_TEST(std::holds_alternative<std::nullptr_t>(rows[0][5]));
}

BOOST_AUTO_TEST_CASE(an_integer_beyond_int64_is_refused_not_wrapped)
{
    TempDir dir;
    auto db = make_db(dir);
    auto insert = db.prepare("INSERT INTO t VALUES (?)");
    try {
        insert.bind(1, std::numeric_limits<std::uint64_t>::max());
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 65);
        BOOST_TEST(std::string(error.what()).find("18446744073709551615") != std::string::npos);
    }
    BOOST_TEST(count_rows(db) == 0);
}

BOOST_AUTO_TEST_CASE(null_is_not_zero_for_the_optional_getters)
{
    TempDir dir;
    auto db = make_db(dir);
    db.exec("INSERT INTO t VALUES (NULL); INSERT INTO t VALUES (0)");
    BOOST_TEST(!db.query_optional_int("SELECT v FROM t WHERE v IS NULL").has_value());
    BOOST_TEST(!db.query_optional_int("SELECT v FROM t WHERE 0").has_value());
    BOOST_TEST(db.query_optional_int("SELECT v FROM t WHERE v = 0").value_or(-1) == 0);
    auto select = db.prepare("SELECT v FROM t ORDER BY rowid");
    BOOST_REQUIRE(select.step());
    BOOST_TEST(!select.column_int_optional(0).has_value());
    BOOST_TEST(select.column_int(0) == 0);
    BOOST_REQUIRE(select.step());
    BOOST_TEST(select.column_int_optional(0).value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(a_statement_names_its_database_after_the_database_moved)
{
    TempDir dir;
    auto db = make_db(dir);
    db.exec("CREATE TABLE u (v INTEGER UNIQUE); INSERT INTO u VALUES (1)");
    auto insert = db.prepare("INSERT INTO u VALUES (1)");
    Database moved(std::move(db));
    try {
        insert.run();
        BOOST_FAIL("expected a constraint error");
    } catch (const common::SqliteError& error) {
        const std::string message = error.what();
        BOOST_TEST(message.find("t.db") != std::string::npos, message);
        BOOST_TEST(message.find("UNIQUE constraint failed") != std::string::npos, message);
    }
}

BOOST_AUTO_TEST_CASE(a_statement_outlives_its_database)
{
    TempDir dir;
    auto select = [&] {
        auto db = make_db(dir);
        db.exec("INSERT INTO t VALUES (41)");
        return db.prepare("SELECT v + 1 FROM t");
    }();
    BOOST_REQUIRE(select.step());
    BOOST_TEST(select.column_int(0) == 42);
}

BOOST_AUTO_TEST_CASE(a_failed_script_names_only_the_failing_statement)
{
    TempDir dir;
    auto db = make_db(dir);
    const auto message_of = [&](std::string_view script) {
        try {
            db.exec(script);
        } catch (const common::SqliteError& error) {
            return std::string(error.what());
        }
        return std::string();
    };
    // Refused when prepared (no such table) ...
    auto message = message_of("CREATE TABLE a (x);\n"
                              "CREATE INDEX i ON missing (x);\n"
                              "CREATE TABLE b (y);");
    BOOST_TEST(message.find("(in: CREATE INDEX i ON missing (x);)") != std::string::npos, message);
    BOOST_TEST(message.find("CREATE TABLE") == std::string::npos, message);
    // ... and when run (a constraint), after the statements before it ran.
    message = message_of("CREATE TABLE c (v UNIQUE); INSERT INTO c VALUES ('a;b');\n"
                         "INSERT INTO c VALUES ('a;b'); INSERT INTO c VALUES (2)");
    BOOST_TEST(message.find("(in: INSERT INTO c VALUES ('a;b');)") != std::string::npos, message);
    BOOST_TEST(message.find("CREATE TABLE") == std::string::npos, message);
    BOOST_TEST(message.find("(2)") == std::string::npos, message);
    BOOST_TEST(db.query_int("SELECT count(*) FROM c") == 1);
}

BOOST_AUTO_TEST_CASE(write_transaction_returns_what_its_body_returns)
{
    TempDir dir;
    auto db = make_db(dir);
    const auto rowid = common::write_transaction(db, [&] {
        db.exec("INSERT INTO t VALUES (5)");
        return db.last_insert_rowid();
    });
    BOOST_TEST(rowid == 1);
    const std::string text = common::write_transaction(db, [] { return std::string("ok"); });
    BOOST_TEST(text == "ok");
}

BOOST_AUTO_TEST_CASE(a_nested_write_transaction_is_a_clear_error_and_rolls_back)
{
    TempDir dir;
    auto db = make_db(dir);
    try {
        common::write_transaction(db, [&] {
            db.exec("INSERT INTO t VALUES (1)");
            common::write_transaction(db, [&] { db.exec("INSERT INTO t VALUES (2)"); });
        });
        BOOST_FAIL("expected an error");
    } catch (const common::SqliteError& error) {
        BOOST_FAIL("SQLite's own error, not a clear one: " << error.what());
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 70);
        BOOST_TEST(std::string(error.what()).find("inside another") != std::string::npos);
    }
    BOOST_TEST(!db.in_transaction());
    BOOST_TEST(count_rows(db) == 0);
}

BOOST_AUTO_TEST_CASE(the_immutable_uri_percent_encodes_the_absolute_path)
{
    BOOST_TEST(common::immutable_uri("/a b/%x?#&=.db") ==
               "file:/a%20b/%25x%3F%23%26%3D.db?immutable=1");
    const auto relative = common::immutable_uri("file:x.db");
    BOOST_TEST(relative.rfind("file:/", 0) == 0u);
    BOOST_TEST(relative.find("/file%3Ax.db?immutable=1") != std::string::npos, relative);
}

BOOST_AUTO_TEST_CASE(a_set_stop_flag_interrupts_a_running_statement_until_cleared)
{
    TempDir dir;
    auto db = Database::open(dir / "t.db", {.mode = OpenMode::create});
    const std::string endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                                "SELECT count(*) FROM n";
    std::atomic<bool> stop{true};
    db.interrupt_when(&stop);

    BOOST_CHECK_THROW(db.query_int(endless), common::SqliteError);
    db.interrupt_when(nullptr);
    BOOST_TEST(db.query_int("SELECT 42") == 42);
    stop = false;
    db.interrupt_when(&stop);
    BOOST_TEST(db.query_int("SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                            "SELECT i + 1 FROM n WHERE i < 100000) SELECT i FROM n)") == 100000);
}
