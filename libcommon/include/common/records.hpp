#pragma once
// The SQL of the toolkit's tables, in one place, so that the tool that writes a shape and the
// tools that read or delete it agree: a spawn batch recorded in one transaction, each agent's
// exit, the finished batch, and the retention that deletes old rows.

#include "common/clock.hpp"
#include "common/runs.hpp"
#include "common/sqlite.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace common {

// A spawn_batches row as the spawn phase knows it.
struct BatchRecord {
    std::string spec_id;
    std::string stage;
    std::optional<std::string> run_id;
    // The upstream's branch of a run, written into agent_executions.branch_id only where the
    // upstream table has that column (never added).
    std::optional<std::string> branch_id;
    std::string phase_type = "regular_stage";  // or quality_gate
    std::string mode = "parallel";             // or sequential
    std::int64_t spawn_wall_us = 0;            // first spawn call to last exec
    std::int64_t agent_count = -1;             // of the whole batch; -1: the agents recorded
    TimePoint started_at;
    ProcessIdentity owner;  // the spawn-agents process, so that a killed one's rows turn lost
};

// An agent_executions row at the end of the spawn phase.
struct AgentRecord {
    std::string agent_id;
    std::string agent_name;
    std::string outcome = "running";  // running, spawn_failed, or cancelled (never started)
    std::optional<std::int64_t> pid;
    // The agent's start time (/proc/PID/stat), so that the tool marking its run lost ends
    // it only while the pid is still the agent's; 0 when it could not be read.
    std::uint64_t pid_start = 0;
    std::optional<std::int64_t> spawn_latency_us;  // null unless it was started
    std::optional<std::string> error;              // why it could not be started, in spawn_error
    TimePoint spawned_at;
};

// What an agent's exit changes in its agent_executions row.
struct ExitRecord {
    std::string agent_id;
    std::string outcome;  // success, exit, timeout, signal, cancelled
    std::optional<std::int64_t> exit_code;
    std::optional<std::int64_t> signal;
    std::int64_t run_time_ms = 0;
    std::int64_t cpu_time_us = 0;
    std::int64_t max_rss_kb = 0;
    std::string response_text;  // already capped and valid UTF-8
    std::optional<std::string> evidence_path;
    TimePoint completed_at;
};

// What finishing a batch writes into its spawn_batches row.
struct BatchFinish {
    std::int64_t batch_id = 0;
    std::int64_t successes = 0;
    std::int64_t batch_wall_us = 0;
    std::optional<std::int64_t> spawn_wall_us;  // when known only at the end
    TimePoint finished_at;
    // Exits whose own update could not be written: recorded with the finish, so that a
    // finished batch never keeps a running row.
    std::vector<ExitRecord> exits;
};

// Records a batch in one IMMEDIATE transaction: its spawn_batches row, one agent_executions
// row per agent and one spawn_metrics row per spawn attempt (agents cancelled before their
// start made none). Either every row exists afterwards or none does. Returns the batch id.
// Throws SqliteError (75 once the policy's retries are spent).
std::int64_t record_batch(Database& db, const BatchRecord& batch,
                          std::span<const AgentRecord> agents, const RetryPolicy& retry = {});

// Adds agents started later to a batch that record_batch() recorded, in one transaction:
// under --sequential or --jobs each spawn is recorded as it happens.
void record_more_agents(Database& db, std::int64_t batch_id, const BatchRecord& batch,
                        std::span<const AgentRecord> agents, const RetryPolicy& retry = {});

// Updates the rows of several agents that ended together, in one transaction.
void record_exits(Database& db, std::int64_t batch_id, std::span<const ExitRecord> exits,
                  const RetryPolicy& retry = {});

// Writes the batch's successes, wall time and finish time, and `finish.exits`, in one
// transaction: the last write of a batch. When it cannot be written the batch stays
// unfinished, and its rows turn lost once its owner is gone.
void finish_batch(Database& db, const BatchFinish& finish, const RetryPolicy& retry = {});

// Rows of the spawn tables older than a cutoff, per table.
struct OldRows {
    std::int64_t agent_executions = 0;
    std::int64_t spawn_metrics = 0;
    std::int64_t spawn_batches = 0;
    std::int64_t total() const { return agent_executions + spawn_metrics + spawn_batches; }
};

// Whose agent_executions rows retention may delete: the toolkit's own (they carry a
// batch_id), or every writer's (the operator asked for it).
enum class RowOwners { toolkit, all };

// Counts the rows delete_rows_older_than() would delete; changes nothing.
OldRows count_rows_older_than(const Database& db, TimePoint cutoff,
                              RowOwners owners = RowOwners::toolkit);

// Deletes, in one IMMEDIATE transaction, the agent_executions rows of `owners` that finished
// (or, never finished, were spawned) before `cutoff` and are not running (in a database without
// the toolkit's columns: that completed before it), the spawn_metrics rows recorded
// before it, and the spawn_batches that finished before it with no running agent. Tables that
// do not exist are passed over. Returns what was deleted.
OldRows delete_rows_older_than(Database& db, TimePoint cutoff,
                               RowOwners owners = RowOwners::toolkit,
                               const RetryPolicy& retry = {});

// A maintenance_runs row: one run of a maintenance tool and its summary (JSON text).
struct MaintenanceRun {
    std::string tool;
    TimePoint started_at;
    TimePoint finished_at;
    bool failed = false;
    std::string summary;
};

// Adds the run's maintenance_runs row in a transaction of its own: the one place every tool
// records a run.
void record_maintenance_run(Database& db, const MaintenanceRun& run, const RetryPolicy& retry = {});

// An evidence_archives row: an archive made (or adopted), or a purge of files or of an archive.
struct EvidenceRecord {
    std::string spec_id;
    std::string action;  // archive or purge
    std::optional<std::string> archive_path;
    std::int64_t file_count = 0;
    std::int64_t bytes_before = 0;
    std::int64_t bytes_after = 0;
    std::optional<std::string> sha256;
    std::string rule;
    TimePoint evidence_time;  // the newest file's modification time
    TimePoint created_at;
};

// Adds the row in a transaction of its own; returns its archive_id.
std::int64_t record_evidence(Database& db, const EvidenceRecord& record,
                             const RetryPolicy& retry = {});

// The archives evidence_archives knows, newest record of each path last.
struct KnownArchive {
    std::string archive_path;
    std::string spec_id;
    std::string evidence_time;  // as stored (sql_timestamp)
    std::string sha256;
    std::string created_at;  // as stored (sql_timestamp): when the archive was made
};
std::vector<KnownArchive> known_archives(const Database& db);

}  // namespace common
