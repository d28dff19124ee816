#pragma once
// metrics-report's work: reading spawn records from the database or from spawn-agents' JSON
// Lines, aggregating them into a Report, the health of the database and evidence, and the
// gates.

#include "common/sqlite.hpp"
#include "options.hpp"
#include "report.hpp"
#include "samples.hpp"

#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace metrics_report {

// One agent spawn as either source records it.
struct SpawnRecord {
    std::string agent;
    bool spawned = false;  // the spawn succeeded (the child exec'd)
    std::optional<std::int64_t> spawn_latency_us;
    Outcome outcome = Outcome::unknown;
    std::optional<std::int64_t> run_time_ms;
    std::optional<std::int64_t> cpu_time_us;
    std::optional<std::int64_t> max_rss_kb;
};

// One batch as either source records it.
struct BatchRecord {
    std::string mode;  // parallel or sequential
    std::int64_t agents = 0;
    std::optional<std::int64_t> successes;
    std::optional<std::int64_t> spawn_wall_us;
    std::optional<std::int64_t> batch_wall_us;
};

// Why `value` of `field` cannot be a measurement: negative, or beyond the bound of the unit
// its name ends in (_us, _ms: a year; _kb: 16 TiB; anything else: 2^40). nullopt when it can.
std::optional<std::string> implausible(std::string_view field, std::int64_t value);

// Adds up records into a Report. Latency and run-time samples are kept per agent for the
// percentiles; everything else is summed as it comes, so memory grows with the window only.
class ReportBuilder {
public:
    // Without `compare`, the batches' wall times are not kept for the comparison.
    explicit ReportBuilder(bool compare = true) : m_compare(compare) {}
    void add(const SpawnRecord& spawn);
    void add(const BatchRecord& batch);
    // Computes the statistics (and the comparison when `compare`) into `report`.
    void finish(Report& report, bool compare);

private:
    struct AgentSamples {
        AgentStats stats;
        Samples latency_us;
        Samples run_time_ms;
    };
    std::map<std::string, AgentSamples, std::less<>> m_agents;
    bool m_compare;
    BatchStats m_batches;
    std::vector<double> m_parallel_wall_us;
    std::vector<double> m_sequential_wall_us;
};

// Feeds the records `selection` picks from `db` into `builder`, reading only. A `running`
// row whose spawn-agents process is gone counts as lost; nothing is written. A database
// without the toolkit's tables has no records.
void read_database(const common::Database& db, const Selection& selection, ReportBuilder& builder);

// Feeds the records `selection` picks from spawn-agents' JSON Lines in `in` into `builder`.
// An agent spawned without an exit event by the end of the stream counts as lost. Throws
// Error 65 naming `source` and the line for a line that is not JSON or an event with a field
// of the wrong type, 74 when reading fails.
void read_stream(std::istream& in, const std::string& source, const Selection& selection,
                 ReportBuilder& builder);

// The all-time counters of `db`; nullopt when its schema does not keep them (before version 3).
std::optional<Totals> read_totals(const common::Database& db);

// The file, freelist and maintenance history of `db` and the evidence bytes per spec under
// `evidence_root` (missing: none).
Health read_health(const common::Database& db, const std::filesystem::path& evidence_root,
                   const EvidenceLimits& limits);

// The verdict of one gate.
struct GateResult {
    bool broken = false;
    std::string message;  // why it failed or was skipped; empty when it passed quietly
};

// Checks --max-p95-ms and --min-success-rate against the overall statistics. With fewer than
// common::stats::min_tail_samples samples a gate says so and passes, unless --require-samples.
std::vector<GateResult> check_gates(const Report& report, const Options& options);

// The whole tool: reads the records (the database read-only, or the stream from `in` or the
// --from file), prints the report on `out` or writes it to --output atomically, notes on
// `err`. Returns 0, or 1 when a gate is broken; throws common::Error.
int run(const Options& options, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace metrics_report
