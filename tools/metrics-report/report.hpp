#pragma once
// What metrics-report computes (per-agent and per-batch statistics, the parallel/sequential
// comparison, the database's health) and how it is printed: JSON, tables for people,
// Markdown, CSV and Prometheus text.

#include "common/json.hpp"
#include "common/stats.hpp"
#include "options.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace metrics_report {

// How an agent run ended, as agent_executions.outcome and spawn-agents' events spell it;
// `unknown` when no outcome was recorded for a spawn.
enum class Outcome {
    success,
    spawn_failed,
    exit,
    timeout,
    signal,
    cancelled,
    lost,
    running,
    unknown
};
inline constexpr std::size_t outcome_count = 9;

// The failure classes, in the order reports list them.
inline constexpr std::array failure_classes{Outcome::spawn_failed, Outcome::exit,
                                            Outcome::timeout,      Outcome::signal,
                                            Outcome::cancelled,    Outcome::lost};

std::string_view outcome_name(Outcome outcome);
// The outcome a name spells; unknown for anything else (including NULL's "").
Outcome outcome_from_name(std::string_view name);

// Count, sum, minimum and maximum of integer values, for quantities shown as mean/min/max.
struct Accumulator {
    std::int64_t count = 0;
    long double sum = 0;  // cannot overflow, whatever the values
    std::int64_t min = 0;
    std::int64_t max = 0;

    void add(std::int64_t value);
    std::optional<double> mean() const;
};

// The statistics of one agent name, or of all of them.
struct AgentStats {
    std::int64_t count = 0;
    std::array<std::int64_t, outcome_count> outcomes{};
    common::stats::Summary spawn_latency_us;  // over successful spawns with a known latency
    common::stats::Summary run_time_ms;       // over started agents with a recorded run time
    Accumulator cpu_time_us;
    Accumulator max_rss_kb;

    std::int64_t of(Outcome outcome) const { return outcomes[static_cast<std::size_t>(outcome)]; }
    std::int64_t successes() const { return of(Outcome::success); }
    // Runs that have ended: everything but running and unknown.
    std::int64_t finished() const;
    // successes / finished; nullopt when nothing has finished.
    std::optional<double> success_rate() const;
};

// The batches of the window.
struct BatchStats {
    std::int64_t count = 0;
    std::int64_t parallel = 0;
    std::int64_t sequential = 0;
    Accumulator agents;
    Accumulator successes;      // finished batches
    Accumulator spawn_wall_us;  // batches that recorded it
    Accumulator batch_wall_us;  // finished batches
};

// Parallel against sequential batches by whole-batch wall time.
struct Comparison {
    // Fewer batches than this on either side and no numbers are given.
    static constexpr std::size_t min_batches = 5;
    static constexpr int bootstrap_iterations = 2000;
    static constexpr std::uint64_t bootstrap_seed = 0x5eed5eed;

    std::size_t parallel = 0;
    std::size_t sequential = 0;
    std::optional<double> parallel_median_us;
    std::optional<double> sequential_median_us;
    std::optional<double> speedup;  // sequential median / parallel median
    std::optional<common::stats::Interval> interval;
    std::optional<common::stats::MannWhitney> test;
    std::string message;  // the verdict in words

    bool enough() const { return parallel >= min_batches && sequential >= min_batches; }
};

// The last run of a maintenance tool, from maintenance_runs.
struct MaintenanceRun {
    std::string finished_at;  // as stored: "YYYY-MM-DD HH:MM:SS" UTC
    std::string outcome;
};

// The database file and the evidence tree.
struct Health {
    std::string database;
    std::uint64_t file_bytes = 0;  // main file plus WAL
    std::uint64_t freelist_bytes = 0;
    std::int64_t page_size = 0;
    std::string auto_vacuum;  // none, full, incremental
    std::optional<std::int64_t> schema_version;
    std::optional<MaintenanceRun> last_vacuum;
    std::optional<MaintenanceRun> last_prune;
    std::map<std::string, std::string> last_success;  // tool -> finished_at of its last "ok" run
    std::string evidence_root;
    bool evidence_exists = false;
    std::map<std::string, std::uint64_t> evidence_bytes;  // per spec
    std::uint64_t evidence_total = 0;
    EvidenceLimits limits;
};

// "ok", "warn" or "over" for a spec's evidence bytes.
std::string_view evidence_state(std::uint64_t bytes, const EvidenceLimits& limits);

// The all-time counters of the database (schema version 3 on), which never decrease: per
// (label, outcome), spawn attempts (agent; spawned or failed), finished runs (agent; outcome)
// and batches (mode; "").
struct Totals {
    using Key = std::pair<std::string, std::string>;
    std::map<Key, std::int64_t> spawns;
    std::map<Key, std::int64_t> runs;
    std::map<Key, std::int64_t> batches;
};

// A whole report.
struct Report {
    Source source = Source::database;
    std::string origin;  // the database path, or the stream's name
    Selection selection;
    AgentStats overall;
    std::map<std::string, AgentStats> agents;
    BatchStats batches;
    std::optional<Comparison> comparison;
    std::optional<Health> health;
    std::optional<Totals> totals;  // from a database that keeps them
};

// The version of the JSON that metrics-report prints.
constexpr int output_schema_version = 1;

common::Json to_json(const AgentStats& stats);
common::Json to_json(const Report& report);

// The report in `format`: table, json, prometheus, markdown or csv.
std::string render(const Report& report, std::string_view format);

}  // namespace metrics_report
