#pragma once
// db-vacuum's work: each action on an open database, and the run that opens the database
// the way the action needs, records the run and prints the report.

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/sqlite.hpp"
#include "integrity.hpp"
#include "options.hpp"
#include "report.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string_view>

namespace db_vacuum {

// What db-vacuum asks of the machine; main() passes the real answers (common/host.hpp),
// tests their own.
struct Host {
    std::filesystem::path sqlite_temp_dir = "/tmp";
    std::optional<std::uint64_t> available_memory;  // bytes; unknown keeps the rebuild on disk
    unsigned cores = 1;  // processors to spread integrity_check over (integrity.hpp)
};

// How a rebuild runs, chosen from the live data and the machine.
struct RebuildPlan {
    bool temp_in_memory = false;     // SQLite's temporary copy in memory (temp_store=MEMORY)
    unsigned check_connections = 1;  // connections integrity_check is spread over
};

// What preflight() learned without writing: the file as it was and what the action will do.
struct Preflight {
    Status status;  // before anything was written (its journal mode included)
    bool rebuilds = false;
    RebuildPlan plan;
};

// Checks, without writing, everything that can refuse `options.action` on `db`: collations or
// functions only the owning application defines (65) for a rebuild, --check and --auto;
// incremental mode for --incremental (65); quick_check for --auto (65 when damaged); for a
// rebuild, a backup target that does not exist yet in an existing, writable folder (else 73)
// and free space for the rebuild (else 74), keeping SQLite's temporary copy in memory when
// only its temp folder lacks room and a quarter of the available memory holds it.
Preflight preflight(const common::Database& db, const Options& options, const Host& host);

// preflight(), then carries out `options.action` on `db`, which must be open read-write for
// every action but status and check. Throws common::Error: what preflight() throws, 65 when
// the check after a rebuild fails, 75 when busy.
Report perform(common::Database& db, const Options& options, const Host& host = {});

// Adds a maintenance_runs row for `report` when the toolkit schema exists, with outcome
// "failed" and the message under "error" when `failure` is given. Returns whether a row was
// written.
bool record_run(common::Database& db, const Report& report, common::TimePoint started,
                common::TimePoint finished, std::string_view failure = {},
                const common::RetryPolicy& retry = {});

// The whole tool: checks read-only, opens the database (read-only for status and check, so
// that they change nothing and never create the file), performs the action, records it,
// prints the report. Returns 0; throws common::Error, 65 after printing the report when a
// check found problems.
int run(const Options& options, const Host& host, std::ostream& out, std::ostream& err);

}  // namespace db_vacuum
