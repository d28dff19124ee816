#include "support/spawn_records.hpp"

#include "common/duration.hpp"
#include "common/json.hpp"
#include "common/records.hpp"
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

// The events spawn-agents prints for one agent: spawned, then exited when it ended.
std::string agent_events(const BatchRun& batch, const AgentRun& run, std::int64_t batch_id,
                         const std::string& agent_id)
{
    const bool spawned = run.outcome != "spawn_failed";
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
    auto events = line(spawned_event);
    if (!spawned || run.outcome == "running" || run.outcome == "lost") return events;
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
    return events;
}

}  // namespace

common::Database open_spawn_database(const std::filesystem::path& path)
{
    auto db = common::Database::open(path, {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    return db;
}

namespace {

bool exits(const AgentRun& run)
{
    return run.outcome != "spawn_failed" && run.outcome != "running" && run.outcome != "lost";
}

// The rows as spawn-agents writes them, through the same functions (common/records.hpp):
// the batch with its agents at the spawn, each exit, then the finished batch.
std::int64_t write_rows(common::Database& db, const BatchRun& batch,
                        const common::ProcessIdentity& owner,
                        const std::vector<std::string>& agent_ids, std::int64_t successes)
{
    const auto started = common::parse_time(batch.started_at);
    std::vector<common::AgentRecord> agents;
    std::vector<common::ExitRecord> ended;
    for (std::size_t i = 0; i < batch.agents.size(); ++i) {
        const auto& run = batch.agents[i];
        const bool spawned = run.outcome != "spawn_failed";
        agents.push_back(
            {.agent_id = agent_ids[i],
             .agent_name = run.agent,
             .outcome = spawned ? "running" : "spawn_failed",
             .spawn_latency_us = run.spawn_latency_us,
             .error = spawned ? std::nullopt : std::optional<std::string>("cannot execute"),
             .spawned_at = started});
        if (!exits(run)) continue;
        ended.push_back({.agent_id = agent_ids[i],
                         .outcome = run.outcome,
                         .exit_code = run.outcome == "success" ? 0 : 1,
                         .run_time_ms = run.run_time_ms.value_or(0),
                         .cpu_time_us = run.cpu_time_us.value_or(0),
                         .max_rss_kb = run.max_rss_kb.value_or(0),
                         .evidence_path = "consensus/" + batch.spec + "/x.json",
                         .completed_at = started});
    }
    const auto batch_id = common::record_batch(db,
                                               {.spec_id = batch.spec,
                                                .stage = batch.stage,
                                                .mode = batch.mode,
                                                .spawn_wall_us = batch.spawn_wall_us,
                                                .started_at = started,
                                                .owner = owner},
                                               agents);
    if (batch.batch_wall_us)
        common::finish_batch(db, {.batch_id = batch_id,
                                  .successes = successes,
                                  .batch_wall_us = *batch.batch_wall_us,
                                  .finished_at = started,
                                  .exits = ended});
    else
        common::record_exits(db, batch_id, ended);
    return batch_id;
}

// Rows spawn-agents never writes, for the tests of how metrics-report reads them: an ended
// agent without its figures, or one stored as lost.
void write_odd_rows_by_sql(common::Database& db, std::int64_t batch_id, const BatchRun& batch,
                           const std::vector<std::string>& agent_ids)
{
    auto update = db.prepare("UPDATE agent_executions SET outcome = ?, run_time_ms = ?, "
                             "cpu_time_us = ?, max_rss_kb = ? WHERE agent_id = ? AND batch_id = ?");
    for (std::size_t i = 0; i < batch.agents.size(); ++i) {
        const auto& run = batch.agents[i];
        const bool odd = run.outcome == "lost" ||
                         (exits(run) && (!run.run_time_ms || !run.cpu_time_us || !run.max_rss_kb));
        if (!odd) continue;
        update.bind(1, run.outcome)
            .bind(2, run.run_time_ms)
            .bind(3, run.cpu_time_us)
            .bind(4, run.max_rss_kb)
            .bind(5, agent_ids[i])
            .bind(6, batch_id)
            .run();
        update.reset();
    }
}

}  // namespace

std::int64_t RunRecorder::add(const BatchRun& batch, const common::ProcessIdentity& owner)
{
    std::int64_t successes = 0;
    std::map<std::string, std::int64_t> failures{
        {"spawn_failed", 0}, {"exit", 0}, {"timeout", 0}, {"signal", 0}, {"cancelled", 0}};
    std::vector<std::string> agent_ids;
    for (const auto& run : batch.agents) {
        agent_ids.push_back(fmt::format("agent-{}", m_next_agent++));
        if (run.outcome == "success") ++successes;
        if (failures.count(run.outcome)) ++failures[run.outcome];
    }
    const auto batch_id = write_rows(m_db, batch, owner, agent_ids, successes);
    write_odd_rows_by_sql(m_db, batch_id, batch, agent_ids);

    std::string events;
    for (std::size_t i = 0; i < batch.agents.size(); ++i)
        events += agent_events(batch, batch.agents[i], batch_id, agent_ids[i]);
    if (batch.batch_wall_us)
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
