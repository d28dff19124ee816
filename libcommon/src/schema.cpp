#include "common/schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <system_error>

namespace common::schema {
namespace {

// Columns the upstream workflow's agent_executions has; the toolkit creates the table with
// them when it is missing, so that the upstream application can share it.
constexpr std::string_view upstream_agent_executions = R"sql(
CREATE TABLE IF NOT EXISTS agent_executions (
    agent_id         TEXT PRIMARY KEY,
    spec_id          TEXT NOT NULL,
    stage            TEXT NOT NULL,
    phase_type       TEXT,
    agent_name       TEXT NOT NULL,
    run_id           TEXT,
    spawned_at       TEXT NOT NULL DEFAULT (datetime('now')),
    completed_at     TEXT,
    response_text    TEXT,
    extraction_error TEXT
))sql";

struct Column {
    std::string_view name;
    std::string_view definition;
};

// The toolkit's own columns of agent_executions, added to an upstream table that lacks them.
constexpr std::array toolkit_agent_columns{
    Column{"batch_id", "INTEGER"},    Column{"pid", "INTEGER"},
    Column{"exit_code", "INTEGER"},   Column{"signal", "INTEGER"},
    Column{"outcome", "TEXT"},        Column{"spawn_latency_us", "INTEGER"},
    Column{"run_time_ms", "INTEGER"}, Column{"evidence_path", "TEXT"},
};

constexpr std::string_view toolkit_tables_v1 = R"sql(
CREATE TABLE IF NOT EXISTS spawn_batches (
    batch_id       INTEGER PRIMARY KEY,
    spec_id        TEXT NOT NULL,
    stage          TEXT NOT NULL,
    run_id         TEXT,
    mode           TEXT NOT NULL CHECK (mode IN ('parallel', 'sequential')),
    agent_count    INTEGER NOT NULL,
    successes      INTEGER,
    spawn_wall_us  INTEGER,
    batch_wall_us  INTEGER,
    started_at     TEXT NOT NULL DEFAULT (datetime('now')),
    finished_at    TEXT,
    owner_pid      INTEGER NOT NULL,
    owner_start    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS spawn_batches_started ON spawn_batches (started_at);
CREATE TABLE IF NOT EXISTS spawn_metrics (
    metric_id        INTEGER PRIMARY KEY,
    batch_id         INTEGER NOT NULL REFERENCES spawn_batches (batch_id) ON DELETE CASCADE,
    agent_name       TEXT NOT NULL,
    spawn_latency_us INTEGER,
    success          INTEGER NOT NULL CHECK (success IN (0, 1)),
    recorded_at      TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS spawn_metrics_batch ON spawn_metrics (batch_id);
CREATE INDEX IF NOT EXISTS spawn_metrics_recorded ON spawn_metrics (recorded_at);
CREATE TABLE IF NOT EXISTS maintenance_runs (
    run_id      INTEGER PRIMARY KEY,
    tool        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    summary     TEXT NOT NULL CHECK (json_valid(summary))
);
CREATE INDEX IF NOT EXISTS maintenance_runs_tool ON maintenance_runs (tool, finished_at);
CREATE TABLE IF NOT EXISTS evidence_archives (
    archive_id    INTEGER PRIMARY KEY,
    spec_id       TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('archive', 'purge')),
    archive_path  TEXT,
    file_count    INTEGER NOT NULL,
    bytes_before  INTEGER NOT NULL,
    bytes_after   INTEGER NOT NULL,
    sha256        TEXT,
    rule          TEXT NOT NULL,
    evidence_time TEXT,
    created_at    TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS evidence_archives_spec ON evidence_archives (spec_id);
)sql";

void create_version_table(Database& db)
{
    db.exec(fmt::format("CREATE TABLE IF NOT EXISTS {} (version INTEGER PRIMARY KEY, "
                        "applied_at TEXT NOT NULL DEFAULT (datetime('now')))",
                        version_table));
}

void migrate_to_v1(Database& db)
{
    db.exec(upstream_agent_executions);
    const auto existing = db.column_names("agent_executions");
    for (const auto& column : toolkit_agent_columns) {
        if (std::find(existing.begin(), existing.end(), column.name) != existing.end()) continue;
        db.exec(fmt::format("ALTER TABLE agent_executions ADD COLUMN {} {}", column.name,
                            column.definition));
    }
    db.exec("CREATE INDEX IF NOT EXISTS spec_hygiene_agent_executions_outcome "
            "ON agent_executions (outcome)");
    db.exec("CREATE INDEX IF NOT EXISTS spec_hygiene_agent_executions_batch "
            "ON agent_executions (batch_id)");
    db.exec(toolkit_tables_v1);
}

}  // namespace

std::optional<int> installed_version(const Database& db)
{
    if (!db.table_exists(version_table)) return std::nullopt;
    return static_cast<int>(
        db.query_int(fmt::format("SELECT coalesce(max(version), 0) FROM {}", version_table)));
}

void ensure_supported(const Database& db)
{
    const auto version = installed_version(db);
    if (version && *version > current_version)
        throw Error(Exit::data,
                    "{}: toolkit schema version {} is newer than this build understands ({}); "
                    "upgrade spec-hygiene",
                    db.path().string(), *version, current_version);
}

Database open_for_writing(const std::filesystem::path& path, const OpenOptions& options,
                          const std::function<void(const Database&)>& precheck)
{
    std::error_code ec;
    if (options.mode != OpenMode::create || std::filesystem::exists(path, ec)) {
        const auto probe = Database::open(
            path, {.mode = OpenMode::read_only, .busy_timeout_ms = options.busy_timeout_ms});
        ensure_supported(probe);
        if (precheck) precheck(probe);
    }
    return Database::open(path, options);
}

int migrate(Database& db, const RetryPolicy& retry)
{
    int found = 0;
    write_transaction(
        db,
        [&] {
            // Read inside the transaction: another process may have migrated meanwhile.
            ensure_supported(db);
            found = installed_version(db).value_or(0);
            if (found == current_version) return;
            create_version_table(db);
            if (found < 1) migrate_to_v1(db);
            auto record =
                db.prepare(fmt::format("INSERT INTO {} (version) VALUES (?)", version_table));
            record.bind(1, current_version).run();
        },
        retry);
    return found;
}

}  // namespace common::schema
