#pragma once
// The toolkit's tables, their version (kept in a table of the toolkit's own, never in
// user_version) and forward-only migrations.

#include "common/sqlite.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

namespace common::schema {

// The schema version this build writes and understands. Version 2 added
// agent_executions.cpu_time_us and max_rss_kb, spawn_batches.phase_type and
// spawn_metrics.agent_id; version 3 agent_executions.spawn_error and the all-time counters
// (spec_hygiene_counters, kept by triggers).
constexpr int current_version = 3;

// The table of all-time counters (schema version 3): rows (counter, label, outcome, value)
// for "spawns" (label agent, outcome spawned|failed), "runs" (label agent, outcome as
// agent_executions has it once finished) and "batches" (label mode, outcome "").
constexpr std::string_view counters_table = "spec_hygiene_counters";

// The table that records which toolkit schema versions were applied.
constexpr std::string_view version_table = "spec_hygiene_schema";

// The upstream workflow's agent_executions as the upstream application declares it: the one
// definition the toolkit creates the table from (when it is missing) and the test fixture
// builds its upstream database with. The toolkit's own columns are added by migrate().
constexpr std::string_view upstream_agent_executions = R"sql(
CREATE TABLE IF NOT EXISTS agent_executions (
    agent_id         TEXT PRIMARY KEY,
    spec_id          TEXT NOT NULL,
    stage            TEXT NOT NULL,
    phase_type       TEXT NOT NULL,
    agent_name       TEXT NOT NULL,
    run_id           TEXT,
    spawned_at       TEXT NOT NULL DEFAULT (datetime('now')),
    completed_at     TEXT,
    response_text    TEXT,
    extraction_error TEXT
))sql";

// The toolkit schema version in `db`, or nullopt when the toolkit's tables were never created.
std::optional<std::int64_t> installed_version(const Database& db);

// Throws Error 65 when `db` holds a toolkit schema newer than this build: nothing is written.
void ensure_supported(const Database& db);

// Throws Error 65 when migrate() would refuse `db`: a newer toolkit schema, or (while a
// migration is due) an agent_executions that is not the upstream table: a view, or a table
// without agent_id as its primary key or without spec_id, stage, agent_name or spawned_at,
// or with a NOT NULL column the toolkit cannot fill. Reads only: callers that will migrate
// open through open_for_writing(), which runs it before anything is written.
void check_migratable(const Database& db);

// Opens `path` for writing only after a look that writes nothing has found nothing to refuse:
// a newer toolkit schema (65), an installed older toolkit schema that cannot be migrated (65,
// see check_migratable), or whatever `precheck` throws for. A refused database is therefore
// left exactly as it was, not even switched to WAL. A file not yet in WAL mode gets the look
// through a read-only connection first; one in WAL mode already, through the writable one
// before it writes. `options.mode` must not be read_only.
Database open_for_writing(const std::filesystem::path& path, const OpenOptions& options,
                          const std::function<void(const Database&)>& precheck = {});

// Brings the toolkit schema to current_version in one IMMEDIATE transaction, version by
// version (forward only; each step adds only what is missing); a no-op when it is current.
// Tables of other applications are left alone, except that an upstream agent_executions
// gains the toolkit's columns (and upstream columns an older upstream table lacks). Throws
// as check_migratable() does. Returns the version found before (0: none).
int migrate(Database& db, const RetryPolicy& retry = {});

}  // namespace common::schema
