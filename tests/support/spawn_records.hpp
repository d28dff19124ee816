#pragma once
// Recorded agent runs for metrics-report's tests: rows written by the functions spawn-agents
// writes them with (common/records.hpp) and, for the same runs, the JSON Lines events it
// prints.

#include "common/runs.hpp"
#include "common/sqlite.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace test_support {

// One agent of a batch. A spawn_failed agent has no latency and no exit.
struct AgentRun {
    std::string agent = "gemini";
    std::string outcome = "success";  // success, spawn_failed, exit, timeout, ..., running
    std::optional<std::int64_t> spawn_latency_us = 500;
    std::optional<std::int64_t> run_time_ms = 100;
    std::optional<std::int64_t> cpu_time_us = 20000;
    std::optional<std::int64_t> max_rss_kb = 3000;
};

struct BatchRun {
    std::string spec = "SPEC-KIT-933";
    std::string stage = "validate";
    std::string mode = "parallel";
    std::vector<AgentRun> agents;
    std::int64_t spawn_wall_us = 900;
    std::optional<std::int64_t> batch_wall_us = 200000;  // nullopt: not finished
    std::string started_at = "2026-11-27 10:15:00";      // UTC, as datetime('now') writes it
};

// A database with the current toolkit schema at `path`, created when missing.
common::Database open_spawn_database(const std::filesystem::path& path);

// Writes batches to a database and keeps the events spawn-agents would have printed.
class RunRecorder {
public:
    explicit RunRecorder(common::Database& db) : m_db(db) {}

    // Records `batch` (one transaction) as owned by `owner`; returns its batch id.
    std::int64_t add(const BatchRun& batch,
                     const common::ProcessIdentity& owner = common::current_process());

    // The JSON Lines of every batch added so far.
    const std::string& stream() const { return m_stream; }

private:
    common::Database& m_db;
    std::string m_stream;
    std::int64_t m_next_agent = 1;
};

// `count` successful agents named `agent` with spawn latencies first, first + step, ...
std::vector<AgentRun> agents_with_latencies(const std::string& agent, std::int64_t count,
                                            std::int64_t first_us, std::int64_t step_us);

}  // namespace test_support
