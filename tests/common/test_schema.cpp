#define BOOST_TEST_MODULE common_schema
#include <boost/test/unit_test.hpp>

#include "common/schema.hpp"
#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>

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
    BOOST_TEST(db.query_int("SELECT count(*) FROM spec_hygiene_schema") == 1);
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
