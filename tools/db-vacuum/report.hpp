#pragma once
// What db-vacuum measures and prints: the database's status, check results, and the report
// of one run, as JSON and as text for people.

#include "common/json.hpp"
#include "common/sqlite.hpp"
#include "options.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace db_vacuum {

// The shape of a database file at one moment.
struct Status {
    std::uint64_t file_bytes = 0;
    std::uint64_t wal_bytes = 0;
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    std::int64_t freelist_pages = 0;
    std::string auto_vacuum;   // none, full or incremental
    std::string journal_mode;  // wal, delete, ...
    std::int64_t user_version = 0;
    std::optional<std::int64_t> toolkit_schema_version;

    std::uint64_t freelist_bytes() const;
    // Bytes the live pages take: what a rebuild has to copy.
    std::uint64_t live_bytes() const;
};

// Reads the status through `db` without writing anything.
Status read_status(const common::Database& db);

// The answer of quick_check or integrity_check: ok when it said exactly "ok".
struct CheckResult {
    CheckKind kind = CheckKind::quick;
    std::vector<std::string> problems;
    double duration_ms = 0;
    bool ok() const { return problems.empty(); }
};

// What one run of db-vacuum did.
struct Report {
    Action action = Action::status;
    std::string database;
    Status before;
    std::optional<Status> after;
    std::vector<std::string> steps;           // what was done, in order
    std::map<std::string, double> durations;  // milliseconds per step, and "total"
    std::optional<CheckResult> check;
    std::optional<std::string> backup;
    int lost_runs_marked = 0;
    bool recorded = false;
    std::optional<std::string> interrupted;  // SIGINT or SIGTERM, when one stopped the run
    std::optional<std::string> error;        // why a run that had done steps failed

    // Bytes the file (with its WAL) shrank by; 0 when it grew or there is no "after".
    std::uint64_t reclaimed_bytes() const;
};

// The version of the JSON that db-vacuum prints.
constexpr int output_schema_version = 1;

common::Json to_json(const Status& status);
common::Json to_json(const CheckResult& check);
common::Json to_json(const Report& report);

// The report for people, several lines.
std::string to_text(const Report& report);

}  // namespace db_vacuum
