#pragma once
// What the db-vacuum CLI suites share: a sandbox per test that runs the real binary with an
// environment of its own, and helpers that make databases and read them back.

#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace db_vacuum_cli {

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

    // Runs db-vacuum with `cwd` as its working folder, for relative names.
    ProcessResult vacuum_in(const fs::path& cwd, const std::vector<std::string>& args) const
    {
        std::vector<std::string> argv{"sh", "-c", R"(cd "$0" && exec "$@")", cwd.string(),
                                      DB_VACUUM_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        return test_support::run_process(argv, {}, environment());
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

inline json parse_report(const ProcessResult& result)
{
    BOOST_TEST_INFO("stdout: " << result.out << "\nstderr: " << result.err);
    BOOST_REQUIRE(json::accept(result.out));
    return json::parse(result.out);
}

inline bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

inline bool has_step(const json& report, const std::string& step)
{
    const auto& steps = report.at("steps");
    return std::find(steps.begin(), steps.end(), step) != steps.end();
}

inline std::int64_t query_int(const fs::path& file, const std::string& sql)
{
    return Database::open(file, {.mode = OpenMode::read_only}).query_int(sql);
}

// Every table's rows in rowid order, and the schema (without root pages, which a rebuild moves).
inline std::map<std::string, Rows> database_contents(const fs::path& file)
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

inline void check_same_contents(const std::map<std::string, Rows>& before,
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
inline std::uintmax_t bytes_on_disk(const fs::path& file)
{
    std::error_code ec;
    const auto wal = fs::file_size(file.string() + "-wal", ec);
    return fs::file_size(file) + (ec ? 0 : wal);
}

// Adds and drops a table, leaving about `bytes` of free pages behind.
inline void add_free_pages(const fs::path& file, std::int64_t bytes)
{
    auto db = Database::open(file);
    db.exec("CREATE TABLE test_scratch (content BLOB)");
    auto insert =
        db.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                   "INSERT INTO test_scratch SELECT zeroblob(16384) FROM n");
    insert.bind(1, bytes / 16384).run();
    db.exec("DROP TABLE test_scratch");
}

// A read transaction held open on `file` until release(): a reader on an old snapshot, which
// keeps a checkpoint from finishing and a rollback-journal file from switching to WAL.
class HeldReader {
public:
    explicit HeldReader(const fs::path& file)
        : m_db(Database::open(file, {.mode = OpenMode::read_only}))
    {
        m_db.exec("BEGIN");
        m_cursor.emplace(m_db.prepare("SELECT spec_id FROM consensus_runs"));
        BOOST_TEST_REQUIRE(m_cursor->step());
    }

    void release()
    {
        if (!m_cursor) return;
        m_cursor.reset();
        m_db.exec("COMMIT");
    }

private:
    Database m_db;
    std::optional<common::Statement> m_cursor;
};

// Switches `file` to incremental auto-vacuum without db-vacuum.
inline void make_incremental(const fs::path& file)
{
    auto db = Database::open(file);
    db.exec("PRAGMA auto_vacuum=INCREMENTAL");
    db.exec("VACUUM");
}

inline void write_config(const fs::path& file, const std::string& text)
{
    fs::create_directories(file.parent_path());
    write_file(file, text);
}

inline void require_usage_error(const ProcessResult& result)
{
    BOOST_TEST(result.exit_code == 64);
    // One line, no "Try --help" after it.
    BOOST_TEST(result.err.starts_with("db-vacuum: error: "), result.err);
    BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1, result.err);
    BOOST_TEST(result.out.empty());
}

}  // namespace db_vacuum_cli
