#include "writer.hpp"

#include "common/error.hpp"

#include <fmt/format.h>

#include <array>
#include <future>
#include <iterator>
#include <memory>
#include <poll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace spawn_agents {
namespace {

using common::Json;

Json nullable(const std::optional<std::int64_t>& value)
{
    return value ? Json(*value) : Json(nullptr);
}

std::optional<std::int64_t> widen(const std::optional<int>& value)
{
    return value ? std::optional<std::int64_t>(*value) : std::nullopt;
}

}  // namespace

std::string outcome_of(const common::FinishedChild& child)
{
    switch (child.ending) {
    case common::Ending::timed_out: return "timeout";
    case common::Ending::cancelled: return "cancelled";
    case common::Ending::signaled: return "signal";
    case common::Ending::exited: return child.exit_code.value_or(-1) == 0 ? "success" : "exit";
    }
    return "exit";
}

std::string capped_response(std::string_view text, std::size_t cap)
{
    if (text.size() > cap) {
        std::size_t end = cap;
        // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
            --end;
        text = text.substr(0, end);
    }
    return common::sanitize_utf8(text);
}

BatchWriter::BatchWriter(common::Database db, EvidenceStore evidence, std::ostream& out,
                         std::size_t max_response, common::RetryPolicy retry, std::ostream* log)
    : m_db(std::move(db)), m_evidence(std::move(evidence)), m_events(out),
      m_max_response(max_response), m_retry(std::move(retry)), m_log(log),
      m_finished_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), m_thread([this] { loop(); })
{
}

BatchWriter::~BatchWriter()
{
    {
        const std::lock_guard lock(m_mutex);
        m_closing = true;
    }
    m_ready.notify_one();
    if (m_thread.joinable()) m_thread.join();
}

void BatchWriter::post(Job job)
{
    {
        const std::lock_guard lock(m_mutex);
        m_jobs.push_back(std::move(job));
    }
    m_ready.notify_one();
}

void BatchWriter::take_posted(std::deque<Job>& into)
{
    const std::lock_guard lock(m_mutex);
    std::move(m_jobs.begin(), m_jobs.end(), std::back_inserter(into));
    m_jobs.clear();
}

bool BatchWriter::wait_for_jobs(std::deque<Job>& into)
{
    std::unique_lock lock(m_mutex);
    m_ready.wait(lock, [&] { return m_closing || !m_jobs.empty(); });
    if (!m_jobs.empty()) {
        std::move(m_jobs.begin(), m_jobs.end(), std::back_inserter(into));
        m_jobs.clear();
        return true;
    }
    m_finished = true;
    const std::uint64_t one = 1;
    if (m_finished_fd) {
        // An eventfd write fails only when its counter is full; no one reads it.
        const auto written = ::write(m_finished_fd.get(), &one, sizeof one);
        static_cast<void>(written);
    }
    return false;
}

void BatchWriter::loop()
{
    std::deque<Job> jobs;
    while (wait_for_jobs(jobs)) {
        std::vector<ExitJob> exits;
        while (!jobs.empty()) {
            auto job = std::move(jobs.front());
            jobs.pop_front();
            if (auto* exit = std::get_if<ExitJob>(&job)) {
                exits.push_back(std::move(*exit));
                // What was posted while the jobs before were written joins these exits: their
                // files are flushed and their rows written together, not in a round each.
                if (jobs.empty()) take_posted(jobs);
                continue;
            }
            if (!exits.empty()) record_exits(std::exchange(exits, {}));
            if (const auto* spawns = std::get_if<SpawnsJob>(&job)) {
                // The files of the exits that waited for the spawns are put in place while
                // the spawn transaction is written: neither waits for the other.
                auto placing = place_waiting_files(true);
                record_spawns(*spawns);
                record_waiting_exits(std::move(placing));
            }
            if (const auto* totals = std::get_if<BatchTotals>(&job)) finish(*totals);
        }
        if (!exits.empty()) record_exits(std::move(exits));
    }
}

void BatchWriter::close(common::SignalWatch* signals, const std::function<void(int)>& on_signal)
{
    {
        const std::lock_guard lock(m_mutex);
        m_closing = true;
    }
    m_ready.notify_one();
    // The signal descriptor is watched until the thread is done: it may wait seconds for a
    // busy database or a held lock.
    while (signals && m_thread.joinable()) {
        {
            const std::lock_guard lock(m_mutex);
            if (m_finished) break;
        }
        std::array<pollfd, 2> watch{{{signals->fd(), POLLIN, 0}, {m_finished_fd.get(), POLLIN, 0}}};
        // Without the event descriptor (none could be made), a look every 20 ms.
        const nfds_t count = m_finished_fd ? 2 : 1;
        if (::poll(watch.data(), count, m_finished_fd ? -1 : 20) > 0 && watch[0].revents != 0)
            if (const auto signal = signals->take(); signal && on_signal) on_signal(*signal);
    }
    if (m_thread.joinable()) m_thread.join();
    if (m_error) std::rethrow_exception(m_error);
}

bool BatchWriter::attempt(const std::function<void()>& step)
{
    try {
        step();
        return true;
    } catch (...) {
        if (!m_error) m_error = std::current_exception();
        return false;
    }
}

void BatchWriter::emit(const Json& event, bool flush)
{
    if (m_events_failed) return;
    if (!attempt([&] { m_events.write(event, flush); })) m_events_failed = true;
}

void BatchWriter::post_spawns(common::BatchRecord batch, std::vector<common::AgentRecord> agents,
                              std::vector<AgentInfo> infos)
{
    post(SpawnsJob{std::move(batch), std::move(agents), std::move(infos)});
}

void BatchWriter::record_spawns(const SpawnsJob& job)
{
    const auto& [record, agents_of, infos_of] = job;
    if (!m_spawns_recorded) {
        m_batch = record;
        m_spawns_recorded = true;
        attempt([&] { m_batch_id = common::record_batch(m_db, record, agents_of, m_retry); });
    } else if (m_batch_id) {
        // Agents started later (--sequential, --jobs): added to the batch as they start.
        attempt([&] { common::record_more_agents(m_db, *m_batch_id, record, agents_of, m_retry); });
    }
    for (std::size_t i = 0; i < agents_of.size(); ++i) {
        const auto& agent = agents_of[i];
        const auto& info = infos_of[i];
        const bool last = i + 1 == agents_of.size();
        m_order.push_back(agent.agent_id);
        auto& telemetry = m_telemetry[agent.agent_id];
        telemetry = Json{{"agent", info.name},
                         {"agent_id", agent.agent_id},
                         {"command", info.command},
                         {"env", info.env_names},
                         {"pid", nullable(agent.pid)},
                         {"outcome", agent.outcome},
                         {"spawn_latency_us", nullable(agent.spawn_latency_us)}};
        if (agent.error) telemetry["error"] = *agent.error;
        const auto time = common::iso8601(agent.spawned_at);
        if (agent.outcome == "cancelled") {
            // Never started: no spawn, only its end.
            emit(Json{{"event", "exited"},
                      {"batch_id", nullable(m_batch_id)},
                      {"agent", info.name},
                      {"agent_id", agent.agent_id},
                      {"outcome", "cancelled"},
                      {"exit_code", nullptr},
                      {"signal", nullptr},
                      {"run_time_ms", 0},
                      {"cpu_time_us", 0},
                      {"max_rss_kb", 0},
                      {"evidence", nullptr},
                      {"time", time}},
                 last);
            continue;
        }
        Json event{{"event", "spawned"},
                   {"batch_id", nullable(m_batch_id)},
                   {"spec_id", record.spec_id},
                   {"stage", record.stage},
                   {"agent", info.name},
                   {"agent_id", agent.agent_id},
                   {"pid", nullable(agent.pid)},
                   {"outcome", agent.outcome},
                   {"spawn_latency_us", nullable(agent.spawn_latency_us)}};
        if (agent.error) event["error"] = *agent.error;
        event["time"] = time;
        emit(event, last);
    }
}

void BatchWriter::post_exit(const AgentInfo& info, common::FinishedChild child, StagedOutput staged)
{
    post(ExitJob{.info = info,
                 .child = std::move(child),
                 .completed_at = std::chrono::system_clock::now(),
                 .staged = std::move(staged),
                 .facts = {},
                 .evidence = {}});
}

void BatchWriter::record_exits(std::vector<ExitJob> exits)
{
    for (auto& exit : exits) {
        try {
            exit.facts = EvidenceStore::inspect(exit.staged, m_max_response);
        } catch (...) {
            exit.staged.error = std::current_exception();
        }
    }
    std::move(exits.begin(), exits.end(), std::back_inserter(m_waiting));
    if (m_spawns_recorded) record_waiting_exits(place_waiting_files(false));
}

std::future<std::vector<AgentEvidence>> BatchWriter::place_waiting_files(bool on_own_thread)
{
    std::vector<std::string> names;
    std::vector<StagedOutput> staged;
    for (auto& exit : m_waiting) {
        names.push_back(exit.info.name);
        staged.push_back(std::move(exit.staged));
    }
    auto place = [this, names = std::move(names), staged = std::move(staged)]() mutable {
        return m_evidence.commit_agent_outputs(names, std::move(staged));
    };
    if (on_own_thread && !m_waiting.empty()) {
        try {
            return std::async(std::launch::async, std::move(place));
        } catch (const std::system_error&) {
            // No thread to be had: they are put in place here, first.
        }
    }
    return std::async(std::launch::deferred, std::move(place));
}

void BatchWriter::record_waiting_exits(std::future<std::vector<AgentEvidence>> placing)
{
    if (m_waiting.empty()) return;
    std::vector<AgentEvidence> evidence(m_waiting.size());
    attempt([&] { evidence = placing.get(); });
    for (std::size_t i = 0; i < m_waiting.size(); ++i)
        m_waiting[i].evidence = std::move(evidence[i]);
    record_exit_rows(m_waiting);
    m_waiting.clear();
}

void BatchWriter::record_exit_rows(std::span<const ExitJob> exits)
{
    if (exits.empty()) return;
    std::vector<common::ExitRecord> records;
    for (std::size_t i = 0; i < exits.size(); ++i) {
        const auto& child = exits[i].child;
        const auto& evidence = exits[i].evidence;
        if (evidence.error) attempt([&] { std::rethrow_exception(evidence.error); });
        if (evidence.cut_short) attempt([&] { std::rethrow_exception(evidence.cut_short); });
        records.push_back({
            .agent_id = exits[i].info.agent_id,
            .outcome = outcome_of(child),
            .exit_code = widen(child.exit_code),
            .signal = widen(child.signal),
            .run_time_ms = child.run_time_us / 1000,
            .cpu_time_us = child.cpu_time_us,
            .max_rss_kb = child.max_rss_kb,
            .response_text = capped_response(exits[i].facts.head, m_max_response),
            .evidence_path = evidence.output.empty() ? std::nullopt
                                                     : std::optional<std::string>(evidence.output),
            .completed_at = exits[i].completed_at,
        });
    }
    // Exits not written now are written with the batch's finish, or not at all: a finished
    // batch never keeps a running row.
    if (m_batch_id && !attempt([&] { common::record_exits(m_db, *m_batch_id, records, m_retry); }))
        m_unrecorded.insert(m_unrecorded.end(), records.begin(), records.end());

    for (std::size_t i = 0; i < exits.size(); ++i)
        tell_exit(exits[i], records[i], i + 1 == exits.size());
}

void BatchWriter::tell_exit(const ExitJob& job, const common::ExitRecord& exit, bool flush)
{
    const auto& info = job.info;
    const auto& child = job.child;
    if (m_log)
        *m_log << fmt::format("spawn-agents: {} ended: {}{}\n", info.name, exit.outcome,
                              child.exit_code ? fmt::format(" (exit {})", *child.exit_code)
                              : child.signal  ? fmt::format(" (signal {})", *child.signal)
                                              : std::string());
    auto& telemetry = m_telemetry[info.agent_id];
    telemetry["outcome"] = exit.outcome;
    telemetry["exit_code"] = nullable(exit.exit_code);
    telemetry["signal"] = nullable(exit.signal);
    telemetry["run_time_ms"] = exit.run_time_ms;
    telemetry["cpu_time_us"] = exit.cpu_time_us;
    telemetry["max_rss_kb"] = exit.max_rss_kb;
    const auto& facts = job.facts;
    telemetry["stdout_bytes"] = facts.stdout_bytes;
    telemetry["stderr_bytes"] = facts.stderr_bytes;
    telemetry["response_truncated"] = facts.stdout_bytes > m_max_response;
    telemetry["input_complete"] = child.input_complete;
    telemetry["evidence"] = exit.evidence_path ? Json(*exit.evidence_path) : Json(nullptr);
    telemetry["stderr_evidence"] =
        job.evidence.errors.empty() ? Json(nullptr) : Json(job.evidence.errors);

    emit(Json{{"event", "exited"},
              {"batch_id", nullable(m_batch_id)},
              {"agent", info.name},
              {"agent_id", info.agent_id},
              {"outcome", exit.outcome},
              {"exit_code", nullable(exit.exit_code)},
              {"signal", nullable(exit.signal)},
              {"run_time_ms", exit.run_time_ms},
              {"cpu_time_us", exit.cpu_time_us},
              {"max_rss_kb", exit.max_rss_kb},
              {"evidence", telemetry["evidence"]},
              {"time", common::iso8601(exit.completed_at)}},
         flush);
}

void BatchWriter::post_finish(BatchTotals totals)
{
    post(std::move(totals));
}

void BatchWriter::finish(const BatchTotals& totals)
{
    Json failures = Json::object();
    for (const auto* outcome : {"spawn_failed", "exit", "timeout", "signal", "cancelled"}) {
        const auto found = totals.failures.find(outcome);
        failures[outcome] = found == totals.failures.end() ? 0 : found->second;
    }
    Json summary{{"tool", "spawn-agents"},
                 {"schema_version", 1},
                 {"batch_id", nullable(m_batch_id)},
                 {"spec_id", m_batch.spec_id},
                 {"stage", m_batch.stage},
                 {"phase_type", m_batch.phase_type},
                 {"mode", m_batch.mode},
                 {"agents", m_order.size()},
                 {"successes", totals.successes},
                 {"failures", failures},
                 {"spawn_wall_us", totals.spawn_wall_us},
                 {"batch_wall_us", totals.batch_wall_us},
                 {"started_at", common::iso8601(m_batch.started_at)},
                 {"finished_at", common::iso8601(totals.finished_at)}};

    Json telemetry = summary;
    telemetry["run_id"] = m_batch.run_id ? Json(*m_batch.run_id) : Json(nullptr);
    Json agents = Json::array();
    for (const auto& id : m_order)
        agents.push_back(m_telemetry[id]);
    telemetry["agents"] = agents;
    telemetry["agent_count"] = m_order.size();
    std::string telemetry_path;
    attempt([&] { telemetry_path = m_evidence.write_telemetry(common::json_text(telemetry)); });

    if (m_batch_id)
        attempt([&] {
            common::finish_batch(m_db,
                                 {.batch_id = *m_batch_id,
                                  .successes = totals.successes,
                                  .batch_wall_us = totals.batch_wall_us,
                                  .spawn_wall_us = totals.spawn_wall_us,
                                  .finished_at = totals.finished_at,
                                  .exits = m_unrecorded},
                                 m_retry);
        });
    Json event{{"event", "batch"}};
    for (const auto& [key, value] : summary.items())
        event[key] = value;
    event["telemetry"] = telemetry_path.empty() ? Json(nullptr) : Json(telemetry_path);
    emit(event);
}

}  // namespace spawn_agents
