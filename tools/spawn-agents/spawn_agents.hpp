#pragma once
// spawn-agents' work: start a batch's agents (all at once, --jobs at a time, or one after
// another), drain them, and record every spawn and exit as it happens.

#include "batch.hpp"
#include "common/sqlite.hpp"
#include "options.hpp"

#include <ostream>

namespace spawn_agents {

// Runs `batch` with `db` as the writer's connection (migrated to the current schema): JSON
// Lines events on `out`, the status line and --verbose lines on `err`. SIGINT and SIGTERM
// received meanwhile go to every agent's group; agents not started yet become cancelled.
// Returns 0 when every agent succeeded, 1 when some failed, 128 + the signal (130, 143) when
// SIGINT or SIGTERM stopped it. Throws common::Error for the
// tool's own failures, after the batch has run and what could be recorded was.
int run_batch(const Batch& batch, const Options& options, common::Database db, std::ostream& out,
              std::ostream& err);

// The whole tool: reads and checks the batch (nothing is written when it is refused), opens
// or creates the database, marks runs of killed spawn-agents lost, runs the batch.
int run(const Options& options, std::ostream& out, std::ostream& err);

}  // namespace spawn_agents
