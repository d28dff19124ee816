#pragma once
// db-vacuum's work: each action on an open database, and the run that opens the database
// the way the action needs, records the run and prints the report.

#include "common/clock.hpp"
#include "common/sqlite.hpp"
#include "options.hpp"
#include "report.hpp"

#include <ostream>
#include <string_view>

namespace db_vacuum {

// Checks, without writing, everything that can refuse `options.action` on `db`: incremental
// mode for --incremental; quick_check for --auto (65 when damaged); for a rebuild, a backup target
// that does not exist yet in an existing folder (else 73) and free space for the rebuild (else 74).
// Throws 65 for the first.
void preflight(const common::Database& db, const Options& options);

// Runs quick_check or integrity_check; a corrupt file's error becomes a listed problem.
CheckResult run_check(const common::Database& db, CheckKind kind);

// Carries out `options.action` on `db`, which must be open read-write for every action but
// status and check, after preflight(). Throws common::Error: what preflight() throws, 65 when
// the check after a rebuild fails, 75 when busy.
Report perform(common::Database& db, const Options& options);

// Adds a maintenance_runs row for `report` when the toolkit schema exists, with outcome
// "failed" and the message under "error" when `failure` is given. Returns whether a row was
// written.
bool record_run(common::Database& db, const Report& report, common::TimePoint started,
                common::TimePoint finished, std::string_view failure = {},
                const common::RetryPolicy& retry = {});

// The whole tool: opens the database (read-only for status and check, so that they change
// nothing and never create the file), performs the action, records it, prints the report.
// Returns 0; throws common::Error, 65 after printing the report when a check found problems.
int run(const Options& options, std::ostream& out, std::ostream& err);

}  // namespace db_vacuum
