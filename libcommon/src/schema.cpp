#include "common/schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <system_error>
#include <vector>

namespace common::schema {
namespace {

struct Column {
    std::string_view name;
    std::string_view definition;
};

// The upstream agent_executions columns an existing table must have for the toolkit to write
// rows the upstream application reads: without them it is some other table.
constexpr std::array required_upstream_columns{"agent_id", "spec_id", "stage", "agent_name",
                                               "spawned_at"};
// Upstream columns an older upstream table may lack; added when missing.
constexpr std::array optional_upstream_columns{
    Column{"phase_type", "TEXT"},       Column{"run_id", "TEXT"},
    Column{"completed_at", "TEXT"},     Column{"response_text", "TEXT"},
    Column{"extraction_error", "TEXT"},
};

// The toolkit's own columns of agent_executions, added to an upstream table that lacks them.
constexpr std::array toolkit_agent_columns_v1{
    Column{"batch_id", "INTEGER"},    Column{"pid", "INTEGER"},
    Column{"exit_code", "INTEGER"},   Column{"signal", "INTEGER"},
    Column{"outcome", "TEXT"},        Column{"spawn_latency_us", "INTEGER"},
    Column{"run_time_ms", "INTEGER"}, Column{"evidence_path", "TEXT"},
};
constexpr std::array toolkit_agent_columns_v2{
    Column{"cpu_time_us", "INTEGER"},
    Column{"max_rss_kb", "INTEGER"},
};

// Version 3: the toolkit's own spawn-failure text (extraction_error means "JSON extraction
// failed" upstream) and the agent's start time.
constexpr std::array toolkit_agent_columns_v3{
    Column{"spawn_error", "TEXT"},
    Column{"pid_start", "INTEGER"},  // the agent's start time, to end a lost run's agent
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

// Adds each of `columns` that `table` lacks; what is there already is left as it is.
template <std::size_t N>
void add_missing_columns(Database& db, std::string_view table, const std::array<Column, N>& columns)
{
    const auto existing = db.column_names(table);
    for (const auto& column : columns) {
        if (std::find(existing.begin(), existing.end(), column.name) != existing.end()) continue;
        db.exec(
            fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, column.name, column.definition));
    }
}

void migrate_to_v1(Database& db)
{
    db.exec(upstream_agent_executions);
    add_missing_columns(db, "agent_executions", optional_upstream_columns);
    add_missing_columns(db, "agent_executions", toolkit_agent_columns_v1);
    db.exec("CREATE INDEX IF NOT EXISTS spec_hygiene_agent_executions_outcome "
            "ON agent_executions (outcome)");
    db.exec("CREATE INDEX IF NOT EXISTS spec_hygiene_agent_executions_batch "
            "ON agent_executions (batch_id)");
    db.exec(toolkit_tables_v1);
}

// Version 2: resource use per agent, the phase of a batch, and which agent a spawn attempt was.
void migrate_to_v2(Database& db)
{
    add_missing_columns(db, "agent_executions", toolkit_agent_columns_v2);
    add_missing_columns(db, "spawn_batches",
                        std::array{Column{"phase_type", "TEXT NOT NULL DEFAULT 'regular_stage'"}});
    add_missing_columns(db, "spawn_metrics", std::array{Column{"agent_id", "TEXT"}});
    // Every tool that opens the database looks for unfinished batches (lost runs).
    db.exec("CREATE INDEX IF NOT EXISTS spawn_batches_unfinished ON spawn_batches (batch_id) "
            "WHERE finished_at IS NULL");
}

// Version 3: all-time counters that never decrease (and an index that finds the agents
// cancelled before they started, which have no spawn_metrics row, by time). Triggers on the
// toolkit's rows keep them in the transaction that records the spawn or the exit, whichever program
// writes it; the purge deletes rows, which no trigger counts. Seeded from the rows there are.
constexpr std::string_view toolkit_counters_v3 = R"sql(
CREATE TABLE IF NOT EXISTS spec_hygiene_counters (
    counter TEXT NOT NULL,
    label   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    value   INTEGER NOT NULL DEFAULT 0 CHECK (value >= 0),
    PRIMARY KEY (counter, label, outcome)
);
CREATE INDEX IF NOT EXISTS spec_hygiene_agent_executions_cancelled ON agent_executions (spawned_at)
    WHERE outcome = 'cancelled';
CREATE TRIGGER IF NOT EXISTS spec_hygiene_count_spawn AFTER INSERT ON spawn_metrics
BEGIN
    INSERT INTO spec_hygiene_counters (counter, label, outcome, value)
    VALUES ('spawns', NEW.agent_name, CASE WHEN NEW.success = 1 THEN 'spawned' ELSE 'failed' END, 1)
    ON CONFLICT (counter, label, outcome) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER IF NOT EXISTS spec_hygiene_count_batch AFTER INSERT ON spawn_batches
BEGIN
    INSERT INTO spec_hygiene_counters (counter, label, outcome, value)
    VALUES ('batches', NEW.mode, '', 1)
    ON CONFLICT (counter, label, outcome) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER IF NOT EXISTS spec_hygiene_count_finished_insert AFTER INSERT ON agent_executions
WHEN NEW.batch_id IS NOT NULL AND NEW.outcome IS NOT NULL AND NEW.outcome <> 'running'
BEGIN
    INSERT INTO spec_hygiene_counters (counter, label, outcome, value)
    VALUES ('runs', NEW.agent_name, NEW.outcome, 1)
    ON CONFLICT (counter, label, outcome) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER IF NOT EXISTS spec_hygiene_count_finished_update
AFTER UPDATE OF outcome ON agent_executions
WHEN NEW.batch_id IS NOT NULL AND NEW.outcome IS NOT NULL AND NEW.outcome <> 'running'
     AND (OLD.outcome IS NULL OR OLD.outcome = 'running')
BEGIN
    INSERT INTO spec_hygiene_counters (counter, label, outcome, value)
    VALUES ('runs', NEW.agent_name, NEW.outcome, 1)
    ON CONFLICT (counter, label, outcome) DO UPDATE SET value = value + 1;
END;
INSERT INTO spec_hygiene_counters (counter, label, outcome, value)
    SELECT 'spawns', agent_name, CASE WHEN success = 1 THEN 'spawned' ELSE 'failed' END, count(*)
    FROM spawn_metrics GROUP BY 2, 3
    ON CONFLICT (counter, label, outcome) DO NOTHING;
INSERT INTO spec_hygiene_counters (counter, label, outcome, value)
    SELECT 'batches', mode, '', count(*) FROM spawn_batches GROUP BY 2
    ON CONFLICT (counter, label, outcome) DO NOTHING;
INSERT INTO spec_hygiene_counters (counter, label, outcome, value)
    SELECT 'runs', agent_name, outcome, count(*) FROM agent_executions
    WHERE batch_id IS NOT NULL AND outcome IS NOT NULL AND outcome <> 'running' GROUP BY 2, 3
    ON CONFLICT (counter, label, outcome) DO NOTHING;
)sql";

void migrate_to_v3(Database& db)
{
    add_missing_columns(db, "agent_executions", toolkit_agent_columns_v3);
    // Rows the toolkit wrote (they carry a batch) move their text where it belongs.
    db.exec("UPDATE agent_executions SET spawn_error = extraction_error, extraction_error = NULL "
            "WHERE batch_id IS NOT NULL AND outcome = 'spawn_failed' "
            "AND extraction_error IS NOT NULL");
    db.exec(toolkit_counters_v3);
}

// Why an existing agent_executions cannot take the toolkit's rows, or "" when it can.
std::string incompatibility(const Database& db)
{
    auto columns = db.prepare("SELECT name, \"notnull\", dflt_value IS NOT NULL, pk "
                              "FROM pragma_table_info('agent_executions')");
    std::vector<std::string> names;
    std::vector<std::string> primary_key;
    std::string unfillable;
    while (columns.step()) {
        const auto name = columns.column_text(0);
        names.push_back(name);
        if (columns.column_int(3) > 0) primary_key.push_back(name);
        const bool known =
            std::find(required_upstream_columns.begin(), required_upstream_columns.end(), name) !=
                required_upstream_columns.end() ||
            std::any_of(optional_upstream_columns.begin(), optional_upstream_columns.end(),
                        [&](const Column& column) { return column.name == name; }) ||
            std::any_of(toolkit_agent_columns_v1.begin(), toolkit_agent_columns_v1.end(),
                        [&](const Column& column) { return column.name == name; }) ||
            std::any_of(toolkit_agent_columns_v2.begin(), toolkit_agent_columns_v2.end(),
                        [&](const Column& column) { return column.name == name; }) ||
            std::any_of(toolkit_agent_columns_v3.begin(), toolkit_agent_columns_v3.end(),
                        [&](const Column& column) { return column.name == name; });
        // A NOT NULL column without a default that the toolkit does not know: its inserts
        // would all fail.
        if (!known && columns.column_int(1) != 0 && columns.column_int(2) == 0 &&
            columns.column_int(3) == 0 && unfillable.empty())
            unfillable = name;
    }
    for (const auto* required : required_upstream_columns)
        if (std::find(names.begin(), names.end(), required) == names.end())
            return fmt::format("it has no {} column", required);
    if (primary_key != std::vector<std::string>{"agent_id"})
        return "its primary key is not agent_id alone";
    if (!unfillable.empty())
        return fmt::format("its column {} is NOT NULL without a default", unfillable);
    return {};
}

}  // namespace

std::optional<std::int64_t> installed_version(const Database& db)
{
    if (!db.table_exists(version_table)) return std::nullopt;
    // Read whole: 4294967297 taken as an int would pass for version 1, older than this build.
    return db.query_optional_int(fmt::format("SELECT max(version) FROM {}", version_table))
        .value_or(0);
}

void check_migratable(const Database& db)
{
    ensure_supported(db);
    if (installed_version(db).value_or(0) >= current_version) return;
    const auto type = db.query_text("SELECT type FROM sqlite_schema WHERE type IN ('table', "
                                    "'view') AND name = 'agent_executions' COLLATE NOCASE");
    if (type.empty()) return;
    std::string reason = type == "table" ? incompatibility(db) : fmt::format("it is a {}", type);
    if (!reason.empty())
        throw Error(Exit::data,
                    "{}: agent_executions is not the upstream workflow's table ({}): the "
                    "toolkit will not write to it",
                    db.path().string(), reason);
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
        // A file in WAL mode already: the writable connection has no journal mode to switch
        // and writes nothing before the checks have passed, so they are made on it (a
        // refusal closes it, and SQLite removes the -wal and -shm it made).
        if (in_wal_mode(path)) {
            auto db = Database::open(path, options);
            check_migratable(db);
            if (precheck) precheck(db);
            return db;
        }
        const auto probe = Database::open(path, {.mode = OpenMode::read_only,
                                                 .busy_timeout_ms = options.busy_timeout_ms,
                                                 .stop = options.stop});
        ensure_supported(probe);
        // Whatever migrate() would refuse is refused here, before the read-write open
        // switches the file to WAL.
        check_migratable(probe);
        if (precheck) precheck(probe);
    }
    return Database::open(path, options);
}

int migrate(Database& db, const RetryPolicy& retry)
{
    // A database already at this version needs no write lock: a busy one does not hold the
    // tool up before its work starts.
    if (installed_version(db) == current_version) return current_version;
    int found = 0;
    write_transaction(
        db,
        [&] {
            // Read inside the transaction: another process may have migrated meanwhile.
            check_migratable(db);
            found = static_cast<int>(installed_version(db).value_or(0));
            if (found == current_version) return;
            create_version_table(db);
            if (found < 1) migrate_to_v1(db);
            if (found < 2) migrate_to_v2(db);
            if (found < 3) migrate_to_v3(db);
            auto record = db.prepare(
                fmt::format("INSERT OR IGNORE INTO {} (version) VALUES (?)", version_table));
            for (int version = found + 1; version <= current_version; ++version) {
                record.bind(1, version).run();
                record.reset();
            }
        },
        retry);
    return found;
}

}  // namespace common::schema
