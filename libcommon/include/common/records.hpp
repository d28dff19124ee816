#pragma once
// The SQL of the toolkit's tables.

#include "common/clock.hpp"
#include "common/sqlite.hpp"

#include <cstdint>

namespace common {

// Rows of the spawn tables older than a cutoff, per table.
struct OldRows {
    std::int64_t agent_executions = 0;
    std::int64_t spawn_metrics = 0;
    std::int64_t spawn_batches = 0;
    std::int64_t total() const { return agent_executions + spawn_metrics + spawn_batches; }
};

// Counts the rows delete_rows_older_than() would delete; changes nothing.
OldRows count_rows_older_than(const Database& db, TimePoint cutoff);

// Deletes, in one IMMEDIATE transaction, the agent_executions rows that finished (or, never
// finished, were spawned) before `cutoff` and are not running, the spawn_metrics rows recorded
// before it, and the spawn_batches that finished before it with no running agent. Tables that
// do not exist are passed over. Returns what was deleted.
OldRows delete_rows_older_than(Database& db, TimePoint cutoff, const RetryPolicy& retry = {});

}  // namespace common
