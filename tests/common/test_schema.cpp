#define BOOST_TEST_MODULE common_schema
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include "common/schema.hpp"
#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

using common::Database;
using common::OpenMode;
using test_support::TempDir;

namespace {

Database make_empty(const TempDir& dir)
{
    return Database::open(dir / "t.db", {.mode = OpenMode::create});
}

bool has_column(const Database& db, std::string_view table, std::string_view column)
{
    const auto columns = db.column_names(table);
    return std::find(columns.begin(), columns.end(), column) != columns.end();
}

// Exit code and message of what `action` throws (0 and "" when nothing).
std::pair<int, std::string> error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const common::Error& error) {
        return {static_cast<int>(error.code()), error.what()};
    }
    return {0, ""};
}

// A database as schema version 2 left it: version 3's counters, triggers and columns
// taken away again.
void downgrade_to_v2(Database& db)
{
    db.exec("DROP TRIGGER spec_hygiene_count_spawn; DROP TRIGGER spec_hygiene_count_batch;"
            "DROP TRIGGER spec_hygiene_count_finished_insert;"
            "DROP TRIGGER spec_hygiene_count_finished_update;"
            "DROP TABLE spec_hygiene_counters;"
            "DROP INDEX spec_hygiene_agent_executions_cancelled;"
            "ALTER TABLE agent_executions DROP COLUMN spawn_error;"
            "ALTER TABLE agent_executions DROP COLUMN pid_start;"
            "DELETE FROM spec_hygiene_schema WHERE version = 3;");
}

// A database as schema version 1 left it: version 2's columns and index taken away again.
void downgrade_to_v1(Database& db)
{
    downgrade_to_v2(db);
    db.exec("DROP INDEX spawn_batches_unfinished;"
            "ALTER TABLE agent_executions DROP COLUMN cpu_time_us;"
            "ALTER TABLE agent_executions DROP COLUMN max_rss_kb;"
            "ALTER TABLE spawn_batches DROP COLUMN phase_type;"
            "ALTER TABLE spawn_metrics DROP COLUMN agent_id;"
            "DELETE FROM spec_hygiene_schema WHERE version = 2;");
}

// The value of one all-time counter (0 when it has no row).
std::int64_t counter(const Database& db, std::string_view name, std::string_view label,
                     std::string_view outcome)
{
    auto query = db.prepare("SELECT value FROM spec_hygiene_counters WHERE counter = ? AND "
                            "label = ? AND outcome = ?");
    query.bind(1, name).bind(2, label).bind(3, outcome);
    return query.step() ? query.column_int(0) : 0;
}

// One batch with one agent row (outcome `outcome`) and its spawn_metrics row.
void insert_run(Database& db, std::int64_t batch, std::string_view agent_id,
                std::string_view outcome)
{
    auto batch_row = db.prepare(
        "INSERT OR IGNORE INTO spawn_batches (batch_id, spec_id, stage, mode, agent_count, "
        "owner_pid, owner_start) VALUES (?, 'SPEC-KIT-1', 'plan', 'parallel', 1, 1, 1)");
    batch_row.bind(1, batch).run();
    auto run = db.prepare("INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, "
                          "agent_name, batch_id, outcome) VALUES (?, 'SPEC-KIT-1', 'plan', "
                          "'regular_stage', 'gemini', ?, ?)");
    run.bind(1, agent_id).bind(2, batch).bind(3, outcome).run();
    auto metric = db.prepare("INSERT INTO spawn_metrics (batch_id, agent_name, spawn_latency_us, "
                             "success, agent_id) VALUES (?, 'gemini', 400, ?, ?)");
    metric.bind(1, batch)
        .bind(2, std::int64_t{outcome == "spawn_failed" ? 0 : 1})
        .bind(3, agent_id);
    metric.run();
}

// NOT NULL flags of the upstream columns, to compare two agent_executions tables.
common::Value not_null_flags(const Database& db)
{
    return db.query_rows("SELECT group_concat(name || '=' || \"notnull\", ',') FROM (SELECT * "
                         "FROM pragma_table_info('agent_executions') WHERE name IN ('agent_id', "
                         "'spec_id', 'stage', 'phase_type', 'agent_name', 'spawned_at') "
                         "ORDER BY name)")[0][0];
}

}  // namespace

BOOST_AUTO_TEST_CASE(migrate_creates_the_five_tables_and_records_the_version)
{
    TempDir dir;
    auto db = make_empty(dir);
    BOOST_TEST(!common::schema::installed_version(db).has_value());
    BOOST_TEST(common::schema::migrate(db) == 0);
    for (const auto* table : {"agent_executions", "spawn_batches", "spawn_metrics",
                              "maintenance_runs", "evidence_archives"})
        BOOST_TEST(db.table_exists(table), table);
    BOOST_TEST(common::schema::installed_version(db).value_or(-1) ==
               common::schema::current_version);
    BOOST_TEST(db.query_int("PRAGMA user_version") == 0);
}

BOOST_AUTO_TEST_CASE(migrate_is_idempotent)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    const auto schema_before =
        db.query_rows("SELECT type, name, sql FROM sqlite_schema ORDER BY name");
    BOOST_TEST(common::schema::migrate(db) == common::schema::current_version);
    BOOST_TEST(common::schema::migrate(db) == common::schema::current_version);
    BOOST_TEST((db.query_rows("SELECT type, name, sql FROM sqlite_schema ORDER BY name") ==
                schema_before));
    BOOST_TEST(db.query_int("SELECT count(*) FROM spec_hygiene_schema") ==
               common::schema::current_version);
}

BOOST_AUTO_TEST_CASE(newer_schema_is_refused_with_65_and_nothing_written)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    db.exec("INSERT INTO spec_hygiene_schema (version) VALUES (99)");
    const auto rows_before = db.query_rows("SELECT * FROM spec_hygiene_schema");
    try {
        common::schema::migrate(db);
        BOOST_FAIL("a newer schema must be refused");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 65);
        BOOST_TEST(std::string(error.what()).find("newer") != std::string::npos);
    }
    BOOST_CHECK_THROW(common::schema::ensure_supported(db), common::Error);
    BOOST_TEST((db.query_rows("SELECT * FROM spec_hygiene_schema") == rows_before));
}

BOOST_AUTO_TEST_CASE(a_version_past_32_bits_is_refused_by_its_whole_number)
{
    // Taken as an int, 4294967297 passed for version 1 and 4000000000000 was named 1385447424.
    for (const auto* version : {"4294967297", "4000000000000"}) {
        TempDir dir;
        auto db = make_empty(dir);
        common::schema::migrate(db);
        db.exec(fmt::format("INSERT INTO spec_hygiene_schema (version) VALUES ({})", version));
        try {
            common::schema::ensure_supported(db);
            BOOST_FAIL("version " << version << " must be refused");
        } catch (const common::Error& error) {
            BOOST_TEST(static_cast<int>(error.code()) == 65);
            BOOST_TEST(
                std::string(error.what()).find(fmt::format("version {} is newer", version)) !=
                    std::string::npos,
                error.what());
        }
        BOOST_CHECK_THROW(common::schema::migrate(db), common::Error);
    }
}

BOOST_AUTO_TEST_CASE(upstream_database_keeps_its_rows_tables_and_user_version)
{
    TempDir dir;
    fixture::make_upstream_database(dir / "up.db", {.bloat_bytes = 0, .specs = 5});
    auto db = Database::open(dir / "up.db");
    const auto executions = db.query_rows("SELECT * FROM agent_executions ORDER BY agent_id");
    const auto runs = db.query_rows("SELECT * FROM consensus_runs ORDER BY id");
    const auto outputs = db.query_rows("SELECT * FROM agent_outputs ORDER BY id");
    const auto foreign_sql = db.query_rows("SELECT sql FROM sqlite_schema WHERE name IN "
                                           "('consensus_runs', 'agent_outputs') ORDER BY name");
    BOOST_REQUIRE(!executions.empty());

    common::schema::migrate(db);

    BOOST_TEST(db.query_int("PRAGMA user_version") == 2);
    BOOST_TEST((db.query_rows("SELECT * FROM consensus_runs ORDER BY id") == runs));
    BOOST_TEST((db.query_rows("SELECT * FROM agent_outputs ORDER BY id") == outputs));
    BOOST_TEST((db.query_rows("SELECT sql FROM sqlite_schema WHERE name IN ('consensus_runs', "
                              "'agent_outputs') ORDER BY name") == foreign_sql));
    // The upstream columns keep their values; the toolkit's columns are added, empty.
    const auto upstream_columns =
        db.query_rows("SELECT agent_id, spec_id, stage, phase_type, agent_name, run_id, "
                      "spawned_at, completed_at, "
                      "response_text, extraction_error FROM agent_executions ORDER BY agent_id");
    BOOST_TEST((upstream_columns == executions));
    for (const auto* column : {"batch_id", "pid", "exit_code", "signal", "outcome",
                               "spawn_latency_us", "run_time_ms", "evidence_path"})
        BOOST_TEST(has_column(db, "agent_executions", column), column);
    BOOST_TEST(db.query_int("SELECT count(*) FROM agent_executions WHERE outcome IS NOT NULL") ==
               0);
}

BOOST_AUTO_TEST_CASE(migration_rolls_back_as_a_whole_when_it_fails)
{
    TempDir dir;
    auto db = make_empty(dir);
    // A foreign object named like a toolkit table makes the migration fail half-way.
    db.exec("CREATE VIEW maintenance_runs AS SELECT 1 AS x");
    BOOST_CHECK_THROW(common::schema::migrate(db), common::Error);
    BOOST_TEST(!db.table_exists("spawn_batches"));
    BOOST_TEST(!db.table_exists("agent_executions"));
    BOOST_TEST(!common::schema::installed_version(db).has_value());
}

BOOST_AUTO_TEST_CASE(a_new_database_gets_version_3)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    BOOST_TEST(common::schema::installed_version(db).value_or(0) == 3);
    BOOST_TEST(has_column(db, "agent_executions", "spawn_error"));
    BOOST_TEST(has_column(db, "agent_executions", "cpu_time_us"));
    BOOST_TEST(has_column(db, "agent_executions", "max_rss_kb"));
    BOOST_TEST(has_column(db, "spawn_batches", "phase_type"));
    BOOST_TEST(has_column(db, "spawn_metrics", "agent_id"));
}

BOOST_AUTO_TEST_CASE(a_version_1_database_migrates_to_version_2_keeping_its_rows)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    downgrade_to_v1(db);
    BOOST_REQUIRE(common::schema::installed_version(db).value_or(0) == 1);
    db.exec("INSERT INTO spawn_batches (batch_id, spec_id, stage, mode, agent_count, owner_pid, "
            "owner_start) VALUES (7, 'SPEC-KIT-1', 'plan', 'parallel', 1, 1, 1);"
            "INSERT INTO spawn_metrics (batch_id, agent_name, spawn_latency_us, success) "
            "VALUES (7, 'gemini', 400, 1)");

    BOOST_TEST(common::schema::migrate(db) == 1);
    BOOST_TEST(common::schema::installed_version(db).value_or(0) == 3);
    BOOST_TEST(db.query_text("SELECT phase_type FROM spawn_batches") == "regular_stage");
    BOOST_TEST(!db.query_optional_int("SELECT agent_id FROM spawn_metrics").has_value());
    BOOST_TEST(db.query_int("SELECT spawn_latency_us FROM spawn_metrics") == 400);
    BOOST_TEST(has_column(db, "agent_executions", "max_rss_kb"));
    BOOST_TEST(db.query_int("SELECT count(*) FROM sqlite_schema WHERE name = "
                            "'spawn_batches_unfinished'") == 1);
}

BOOST_AUTO_TEST_CASE(version_3_moves_the_toolkits_spawn_errors_out_of_extraction_error)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    downgrade_to_v2(db);
    BOOST_REQUIRE(common::schema::installed_version(db).value_or(0) == 2);
    db.exec("INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, agent_name, "
            "spawned_at, batch_id, outcome, extraction_error) VALUES "
            "('mine', 'SPEC-KIT-1', 'plan', 'regular_stage', 'a', '2025-01-01', 7, "
            "'spawn_failed', 'cannot run x'),"
            "('theirs', 'SPEC-KIT-1', 'plan', 'regular_stage', 'b', '2025-01-01', NULL, NULL, "
            "'no JSON block found')");

    BOOST_TEST(common::schema::migrate(db) == 2);

    BOOST_TEST(common::schema::installed_version(db).value_or(0) == 3);
    BOOST_TEST(db.query_text("SELECT spawn_error FROM agent_executions WHERE agent_id = 'mine'") ==
               "cannot run x");
    BOOST_TEST(db.query_int("SELECT extraction_error IS NULL FROM agent_executions "
                            "WHERE agent_id = 'mine'") == 1);
    BOOST_TEST(db.query_text("SELECT extraction_error FROM agent_executions "
                             "WHERE agent_id = 'theirs'") == "no JSON block found");
}

BOOST_AUTO_TEST_CASE(the_toolkit_creates_agent_executions_as_upstream_declares_it)
{
    TempDir dir;
    fixture::make_upstream_database(dir / "up.db", {.bloat_bytes = 0, .specs = 1});
    auto upstream = Database::open(dir / "up.db");
    auto fresh = make_empty(dir);
    common::schema::migrate(fresh);
    BOOST_TEST((not_null_flags(fresh) == not_null_flags(upstream)));
    BOOST_TEST(
        (not_null_flags(fresh) == common::Value(std::string("agent_id=0,agent_name=1,phase_type=1,"
                                                            "spawned_at=1,spec_id=1,stage=1"))));
}

BOOST_AUTO_TEST_CASE(toolkit_rows_fit_the_upstream_table_only_with_a_phase_type)
{
    TempDir dir;
    fixture::make_upstream_database(dir / "up.db", {.bloat_bytes = 0, .specs = 1});
    auto db = Database::open(dir / "up.db");
    common::schema::migrate(db);
    const auto insert = [&](const char* phase_type) {
        db.prepare("INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, "
                   "agent_name, batch_id, pid, outcome, spawn_latency_us, cpu_time_us, "
                   "max_rss_kb) VALUES (?, 'SPEC-KIT-1', 'plan', ?, 'gemini', 1, 42, "
                   "'running', NULL, 10, 20)")
            .bind(1, std::string("toolkit-") + (phase_type ? phase_type : "none"))
            .bind(2, phase_type ? std::optional<std::string>(phase_type) : std::nullopt)
            .run();
    };
    BOOST_CHECK_NO_THROW(insert("regular_stage"));
    BOOST_CHECK_THROW(insert(nullptr), common::SqliteError);
}

BOOST_AUTO_TEST_CASE(an_older_upstream_table_gains_the_upstream_columns_it_lacks)
{
    TempDir dir;
    auto db = make_empty(dir);
    db.exec("CREATE TABLE agent_executions (agent_id TEXT PRIMARY KEY, spec_id TEXT NOT NULL, "
            "stage TEXT NOT NULL, agent_name TEXT NOT NULL, spawned_at TEXT NOT NULL)");
    common::schema::migrate(db);
    for (const auto* column : {"phase_type", "run_id", "completed_at", "response_text",
                               "extraction_error", "outcome", "cpu_time_us"})
        BOOST_TEST(has_column(db, "agent_executions", column), column);
}

BOOST_AUTO_TEST_CASE(an_incompatible_agent_executions_is_refused_with_65_and_nothing_written)
{
    const std::pair<const char*, const char*> cases[] = {
        {"CREATE TABLE agent_executions (id INTEGER PRIMARY KEY, spec_id TEXT, stage TEXT, "
         "agent_name TEXT, spawned_at TEXT)",
         "it has no agent_id column"},
        {"CREATE TABLE agent_executions (agent_id TEXT, spec_id TEXT, stage TEXT, "
         "agent_name TEXT, spawned_at TEXT)",
         "its primary key is not agent_id alone"},
        {"CREATE TABLE agent_executions (agent_id TEXT PRIMARY KEY, spec_id TEXT, stage TEXT, "
         "agent_name TEXT)",
         "it has no spawned_at column"},
        {"CREATE TABLE agent_executions (agent_id TEXT PRIMARY KEY, spec_id TEXT, stage TEXT, "
         "agent_name TEXT, spawned_at TEXT, owner TEXT NOT NULL)",
         "its column owner is NOT NULL without a default"},
        {"CREATE VIEW agent_executions AS SELECT 1 AS agent_id", "it is a view"},
    };
    for (const auto& [sql, reason] : cases) {
        TempDir dir;
        auto db = make_empty(dir);
        db.exec(sql);
        const auto schema_before = db.query_rows("SELECT sql FROM sqlite_schema ORDER BY name");
        const auto [code, message] = error_of([&] { common::schema::migrate(db); });
        BOOST_TEST(code == 65, sql);
        BOOST_TEST(message.find(reason) != std::string::npos, message);
        BOOST_TEST((db.query_rows("SELECT sql FROM sqlite_schema ORDER BY name") == schema_before));
    }
}

BOOST_AUTO_TEST_CASE(open_for_writing_refuses_an_unmigratable_toolkit_database_before_writing)
{
    TempDir dir;
    {
        auto db = make_empty(dir);
        common::schema::migrate(db);
        downgrade_to_v1(db);
        // Someone rebuilt the table without spawned_at.
        db.exec("DROP INDEX spec_hygiene_agent_executions_outcome;"
                "DROP INDEX spec_hygiene_agent_executions_batch;"
                "ALTER TABLE agent_executions DROP COLUMN spawned_at;"
                "PRAGMA journal_mode=DELETE");
    }
    const auto [code, message] = error_of(
        [&] { common::schema::open_for_writing(dir / "t.db", {.mode = OpenMode::read_write}); });
    BOOST_TEST(code == 65);
    BOOST_TEST(message.find("no spawned_at column") != std::string::npos, message);
    auto db = Database::open(dir / "t.db", {.mode = OpenMode::read_only});
    BOOST_TEST(db.query_text("PRAGMA journal_mode") == "delete");
    BOOST_TEST(common::schema::installed_version(db).value_or(0) == 1);
}

BOOST_AUTO_TEST_CASE(open_for_writing_refuses_a_wal_database_without_changing_a_byte_of_it)
{
    // A file in WAL mode already is looked at through the writable connection itself: the
    // refusal must still leave it as it was, with no -wal or -shm beside it.
    const std::pair<const char*, const char*> cases[] = {
        {"INSERT INTO spec_hygiene_schema (version) VALUES (99)", "newer than this build"},
        {"DROP TABLE spec_hygiene_schema; DROP TABLE agent_executions; "
         "CREATE VIEW agent_executions AS SELECT 1 AS agent_id",
         "it is a view"},
    };
    for (const auto& [sql, reason] : cases) {
        TempDir dir;
        const auto path = dir / "t.db";
        {
            auto db = make_empty(dir);
            common::schema::migrate(db);
            db.exec(sql);
        }
        BOOST_REQUIRE(common::in_wal_mode(path));
        const auto before = test_support::file_bytes(path);
        const auto [code, message] =
            error_of([&] { common::schema::open_for_writing(path, {.mode = OpenMode::create}); });
        BOOST_TEST(code == 65, sql);
        BOOST_TEST(message.find(reason) != std::string::npos, message);
        BOOST_TEST((test_support::file_bytes(path) == before), sql);
        BOOST_TEST(!std::filesystem::exists(path.string() + "-wal"));
        BOOST_TEST(!std::filesystem::exists(path.string() + "-shm"));
    }
}

BOOST_AUTO_TEST_CASE(wal_mode_is_read_from_the_header_through_a_symlink_as_sqlite_follows_it)
{
    TempDir dir;
    const auto path = dir / "t.db";
    {
        auto db = make_empty(dir);
        common::schema::migrate(db);
    }
    std::filesystem::create_symlink(path, dir / "link.db");
    BOOST_TEST(common::in_wal_mode(path));
    BOOST_TEST(common::in_wal_mode(dir / "link.db"));
    {
        // Opened through the link, on the writable connection alone.
        const auto db =
            common::schema::open_for_writing(dir / "link.db", {.mode = OpenMode::create});
        BOOST_TEST(common::schema::installed_version(db).value_or(0) ==
                   common::schema::current_version);
    }
    {
        auto db = Database::open(path);
        db.exec("PRAGMA journal_mode=DELETE");
    }
    BOOST_TEST(!common::in_wal_mode(dir / "link.db"));
    test_support::write_file(dir / "other", std::string(100, '\2'));
    BOOST_TEST(!common::in_wal_mode(dir / "other"));  // bytes 18 and 19, but no SQLite header
    BOOST_TEST(!common::in_wal_mode(dir / "missing.db"));
}

BOOST_AUTO_TEST_CASE(counters_count_spawns_exits_and_batches_as_they_are_recorded)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    insert_run(db, 1, "a1", "running");
    insert_run(db, 1, "a2", "spawn_failed");
    insert_run(db, 2, "a3", "cancelled");
    BOOST_TEST(counter(db, "spawns", "gemini", "spawned") == 2);
    BOOST_TEST(counter(db, "spawns", "gemini", "failed") == 1);
    BOOST_TEST(counter(db, "batches", "parallel", "") == 2);
    BOOST_TEST(counter(db, "runs", "gemini", "spawn_failed") == 1);
    BOOST_TEST(counter(db, "runs", "gemini", "cancelled") == 1);
    BOOST_TEST(counter(db, "runs", "gemini", "success") == 0);

    db.exec("UPDATE agent_executions SET outcome = 'success' WHERE agent_id = 'a1'");
    BOOST_TEST(counter(db, "runs", "gemini", "success") == 1);
    // Rewriting a finished row (another column, or the same outcome again) counts nothing.
    db.exec("UPDATE agent_executions SET outcome = 'success', run_time_ms = 5 WHERE "
            "agent_id = 'a1'");
    BOOST_TEST(counter(db, "runs", "gemini", "success") == 1);
}

BOOST_AUTO_TEST_CASE(counters_never_decrease_when_rows_are_purged)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    insert_run(db, 1, "a1", "success");
    db.exec("DELETE FROM agent_executions; DELETE FROM spawn_metrics; DELETE FROM spawn_batches");
    BOOST_TEST(counter(db, "spawns", "gemini", "spawned") == 1);
    BOOST_TEST(counter(db, "runs", "gemini", "success") == 1);
    BOOST_TEST(counter(db, "batches", "parallel", "") == 1);
}

BOOST_AUTO_TEST_CASE(rows_of_the_upstream_application_are_not_counted)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    db.exec("INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, agent_name, "
            "outcome) VALUES ('u1', 'SPEC-KIT-1', 'plan', 'regular_stage', 'gemini', 'success')");
    BOOST_TEST(counter(db, "runs", "gemini", "success") == 0);
}

BOOST_AUTO_TEST_CASE(a_version_2_database_migrates_to_version_3_with_counters_seeded)
{
    TempDir dir;
    auto db = make_empty(dir);
    common::schema::migrate(db);
    downgrade_to_v2(db);
    BOOST_REQUIRE(common::schema::installed_version(db).value_or(0) == 2);
    insert_run(db, 1, "a1", "success");
    insert_run(db, 1, "a2", "running");
    insert_run(db, 2, "a3", "spawn_failed");

    BOOST_TEST(common::schema::migrate(db) == 2);
    BOOST_TEST(common::schema::installed_version(db).value_or(0) == 3);
    BOOST_TEST(counter(db, "spawns", "gemini", "spawned") == 2);
    BOOST_TEST(counter(db, "spawns", "gemini", "failed") == 1);
    BOOST_TEST(counter(db, "runs", "gemini", "success") == 1);
    BOOST_TEST(counter(db, "runs", "gemini", "spawn_failed") == 1);
    BOOST_TEST(counter(db, "runs", "gemini", "running") == 0);
    BOOST_TEST(counter(db, "batches", "parallel", "") == 2);
    // The running agent's exit, after the migration, is counted by the trigger.
    db.exec("UPDATE agent_executions SET outcome = 'exit' WHERE agent_id = 'a2'");
    BOOST_TEST(counter(db, "runs", "gemini", "exit") == 1);
}
