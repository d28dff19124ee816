#include "support/spawn_records.hpp"

#include "common/json.hpp"
#include "common/schema.hpp"

#include <fmt/format.h>

#include <map>

namespace test_support {
namespace {

// "2026-11-27 10:15:00" -> "2026-11-27T10:15:00Z"
std::string iso(std::string sql_time)
{
    sql_time[10] = 'T';
    return sql_time + "Z";
}

nlohmann::json or_null(const std::optional<std::int64_t>& value)
{
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// One JSON line, invalid UTF-8 replaced as spawn-agents replaces it.
std::string line(const nlohmann::json& event)
{
    return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
}

}  // namespace

common::Database open_spawn_database(const std::filesystem::path& path)
{
    auto db = common::Database::open(path, {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    return db;
}

std::int64_t RunRecorder::add(const BatchRun& batch, const common::ProcessIdentity& owner)
{
    std::int64_t batch_id = 0;
    std::int64_t successes = 0;
    std::map<std::string, std::int64_t> failures{
        {"spawn_failed", 0}, {"exit", 0}, {"timeout", 0}, {"signal", 0}, {"cancelled", 0}};
    std::string events;
    const bool finished = batch.batch_wall_us.has_value();
    common::write_transaction(m_db, [&] {
        auto insert_batch = m_db.prepare(
            "INSERT INTO spawn_batches (spec_id, stage, mode, agent_count, spawn_wall_us, "
            "batch_wall_us, started_at, finished_at, owner_pid, owner_start) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        insert_batch.bind(1, batch.spec)
            .bind(2, batch.stage)
            .bind(3, batch.mode)
            .bind(4, static_cast<std::int64_t>(batch.agents.size()))
            .bind(5, batch.spawn_wall_us)
            .bind(6, batch.batch_wall_us)
            .bind(7, batch.started_at)
            .bind(8, finished ? std::optional(batch.started_at) : std::nullopt)
            .bind(9, static_cast<std::int64_t>(owner.pid))
            .bind(10, static_cast<std::int64_t>(owner.start_ticks))
            .run();
        batch_id = m_db.last_insert_rowid();
        auto execution = m_db.prepare(
            "INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, agent_name, "
            "spawned_at, batch_id, outcome, spawn_latency_us, run_time_ms, cpu_time_us, "
            "max_rss_kb) VALUES (?, ?, ?, 'regular_stage', ?, ?, ?, ?, ?, ?, ?, ?)");
        auto metric = m_db.prepare(
            "INSERT INTO spawn_metrics (batch_id, agent_name, spawn_latency_us, success, "
            "recorded_at, agent_id) VALUES (?, ?, ?, ?, ?, ?)");
        for (const auto& run : batch.agents) {
            const auto agent_id = fmt::format("agent-{}", m_next_agent++);
            const bool spawned = run.outcome != "spawn_failed";
            execution.bind(1, agent_id)
                .bind(2, batch.spec)
                .bind(3, batch.stage)
                .bind(4, run.agent)
                .bind(5, batch.started_at)
                .bind(6, batch_id)
                .bind(7, run.outcome)
                .bind(8, run.spawn_latency_us)
                .bind(9, run.run_time_ms)
                .bind(10, run.cpu_time_us)
                .bind(11, run.max_rss_kb)
                .run();
            execution.reset();
            metric.bind(1, batch_id)
                .bind(2, run.agent)
                .bind(3, run.spawn_latency_us)
                .bind(4, spawned ? 1 : 0)
                .bind(5, batch.started_at)
                .bind(6, agent_id)
                .run();
            metric.reset();

            nlohmann::json spawned_event{{"event", "spawned"},
                                         {"batch_id", batch_id},
                                         {"spec_id", batch.spec},
                                         {"stage", batch.stage},
                                         {"agent", run.agent},
                                         {"agent_id", agent_id},
                                         {"pid", spawned ? 4242 : 0},
                                         {"outcome", spawned ? "running" : "spawn_failed"},
                                         {"spawn_latency_us", or_null(run.spawn_latency_us)},
                                         {"time", iso(batch.started_at)}};
            if (!spawned) spawned_event["error"] = "cannot execute";
            events += line(spawned_event);
            if (run.outcome == "success") ++successes;
            if (failures.count(run.outcome)) ++failures[run.outcome];
            if (!spawned || run.outcome == "running" || run.outcome == "lost") continue;
            events += line(nlohmann::json{{"event", "exited"},
                                          {"batch_id", batch_id},
                                          {"agent", run.agent},
                                          {"agent_id", agent_id},
                                          {"outcome", run.outcome},
                                          {"exit_code", run.outcome == "success" ? 0 : 1},
                                          {"signal", nullptr},
                                          {"run_time_ms", or_null(run.run_time_ms)},
                                          {"cpu_time_us", or_null(run.cpu_time_us)},
                                          {"max_rss_kb", or_null(run.max_rss_kb)},
                                          {"evidence", "consensus/" + batch.spec + "/x.json"},
                                          {"time", iso(batch.started_at)}});
        }
        if (finished) {
            auto finish = m_db.prepare("UPDATE spawn_batches SET successes = ? WHERE batch_id = ?");
            finish.bind(1, successes).bind(2, batch_id).run();
        }
    });
    if (finished)
        events += line(nlohmann::json{{"event", "batch"},
                                      {"tool", "spawn-agents"},
                                      {"schema_version", 1},
                                      {"batch_id", batch_id},
                                      {"spec_id", batch.spec},
                                      {"stage", batch.stage},
                                      {"phase_type", "regular_stage"},
                                      {"mode", batch.mode},
                                      {"agents", batch.agents.size()},
                                      {"successes", successes},
                                      {"failures", failures},
                                      {"spawn_wall_us", batch.spawn_wall_us},
                                      {"batch_wall_us", *batch.batch_wall_us},
                                      {"started_at", iso(batch.started_at)},
                                      {"finished_at", iso(batch.started_at)}});
    m_stream += events;
    return batch_id;
}

std::vector<AgentRun> agents_with_latencies(const std::string& agent, std::int64_t count,
                                            std::int64_t first_us, std::int64_t step_us)
{
    std::vector<AgentRun> runs;
    for (std::int64_t i = 0; i < count; ++i) {
        AgentRun run;
        run.agent = agent;
        run.spawn_latency_us = first_us + i * step_us;
        runs.push_back(run);
    }
    return runs;
}

}  // namespace test_support
