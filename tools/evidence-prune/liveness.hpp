#pragma once
// Which specs have an agent run in flight, by the rows of agent_executions: the toolkit's
// own (their spawner still alive) and any other writer's (not completed, spawned recently).

#include "common/clock.hpp"
#include "common/sqlite.hpp"

#include <chrono>
#include <set>
#include <string>

namespace evidence_prune {

// Marks the runs of dead spawners lost when `may_write` (common::mark_lost_runs), then returns
// the specs of rows still in flight: a `running` row whose spawner is alive (or cannot be
// told), and a row of another writer with completed_at NULL spawned within `stale_after` of
// `now`. A read-only caller gets the same answer without writing: a dead spawner's rows do
// not count. Columns a database lacks (an upstream one never migrated) are read as absent.
std::set<std::string> specs_in_flight(common::Database& db, bool may_write, common::TimePoint now,
                                      std::chrono::seconds stale_after);

}  // namespace evidence_prune
