#include "spawn_agents.hpp"

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/input.hpp"
#include "common/log.hpp"
#include "common/process.hpp"
#include "common/process_tree.hpp"
#include "common/records.hpp"
#include "common/runner.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"
#include "stager.hpp"
#include "status.hpp"
#include "writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>

namespace spawn_agents {
namespace {

using common::Error;
using common::Exit;

// A version-7 UUID (RFC 9562: the Unix time in milliseconds, then 74 random bits):
// agent_id is the upstream table's primary key, and keys that begin with the time go in at
// the end of its index, a batch's rows together, where random ones would each dirty a page
// of their own.
std::string new_agent_id(std::mt19937_64& random, common::TimePoint time)
{
    const auto ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count());
    const auto high = random();
    const auto low = random();
    return fmt::format("{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}", (ms >> 16) & 0xffffffffull,
                       ms & 0xffff, high & 0xfff, 0x8000 | ((low >> 48) & 0x3fff),
                       low & 0xffffffffffffull);
}

std::vector<std::string> names_of(const std::map<std::string, std::string>& env)
{
    std::vector<std::string> names;
    for (const auto& entry : env)
        names.push_back(entry.first);
    return names;
}

// An agent through the batch: what it is, and how far it got.
struct AgentRun {
    const AgentSpec* spec = nullptr;
    AgentInfo info;
    common::AgentRecord record;
    StagedOutput staged;  // the files it writes into, while it runs
};

// Ends, when it goes, whatever is still below this process. Placed before the ProcessSet,
// it goes after it: on the way out of a batch that threw, the processes the agents left
// behind (daemons, processes that left their group) would otherwise outlive the batch.
class StrayGuard {
public:
    StrayGuard() = default;
    StrayGuard(const StrayGuard&) = delete;
    StrayGuard& operator=(const StrayGuard&) = delete;
    ~StrayGuard()
    {
        if (m_done) return;
        try {
            common::end_descendants();
        } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor never throws
        }
    }
    // Returns how many it ended.
    std::size_t end_now()
    {
        m_done = true;
        return common::end_descendants();
    }

private:
    bool m_done = false;
};

// One batch: start() places agents while there is room for them, drain() takes what the
// running ones did, finish() ends what they left behind and writes the batch's end.
class BatchRunner {
public:
    BatchRunner(const Batch& batch, const Options& options, common::Database db, std::ostream& out,
                std::ostream& err, common::SignalWatch& signals);
    BatchRunner(const BatchRunner&) = delete;
    BatchRunner& operator=(const BatchRunner&) = delete;

    int run();

private:
    void start();
    void start_agent(AgentRun& agent);
    // Posts the spawns not posted yet: until the batch ends, only the agents started so far;
    // then the others, cancelled.
    void post_spawns();
    void drain(std::optional<std::chrono::milliseconds> max_wait);
    int finish();

    const Batch& m_batch;
    const Options& m_options;
    std::ostream& m_err;
    common::SignalWatch& m_signals;
    const common::Clock m_clock = common::system_clock();
    const common::TimePoint m_started_at = m_clock();
    const common::Stopwatch m_batch_watch;
    std::ostream* m_log;
    // Outlives the writer, whose retries it tells about under --verbose.
    const common::Log m_logger;
    // Set by SIGINT or SIGTERM: waits for a busy database or a held lock end at once.
    std::atomic<bool> m_stopping{false};
    // Agents write their output straight into files staged here, a few agents ahead of
    // their starts; the writer names them.
    EvidenceStore m_staging;
    std::optional<Stager> m_stager;
    std::optional<BatchWriter> m_writer;
    std::vector<AgentRun> m_agents;
    std::size_t m_limit = 1;  // agents running at once
    // With fewer places than agents, each spawn is recorded as it happens: a batch killed
    // half-way still shows what it started.
    bool m_one_by_one = false;
    StrayGuard m_strays;
    common::ProcessSet m_children;
    std::map<std::size_t, std::size_t> m_agent_of_child;  // ProcessSet id -> index in agents
    StatusLine m_status;
    Progress m_progress;
    BatchTotals m_totals;

    std::size_t m_next = 0;           // the next agent to start
    std::size_t m_posted = 0;         // agents[0, posted) have had their spawn posted
    std::optional<int> m_stopped_by;  // SIGINT or SIGTERM received
    bool m_spawns_posted = false;
    std::optional<common::Stopwatch> m_spawn_phase;
    std::chrono::steady_clock::time_point m_last_look;  // the last drain between two starts
    std::int64_t m_spawn_wall_us = 0;
};

BatchRunner::BatchRunner(const Batch& batch, const Options& options, common::Database db,
                         std::ostream& out, std::ostream& err, common::SignalWatch& signals)
    : m_batch(batch), m_options(options), m_err(err), m_signals(signals),
      m_log(options.shared.verbose ? &err : nullptr), m_logger("spawn-agents", err, options.shared),
      m_staging(options.shared.evidence, batch.spec_id, batch.stage, m_started_at,
                options.lock_timeout, &m_stopping),
      m_children(options.kill_grace), m_status(options.status_line ? &err : nullptr,
                                               fmt::format("{} {}", batch.spec_id, batch.stage)),
      m_progress{.agents = batch.agents.size()}
{
    auto retry = m_logger.retry_policy();
    retry.on_retry = [tell = retry.on_retry, this](int attempt, std::chrono::milliseconds wait,
                                                   const common::SqliteError& error) {
        if (tell) tell(attempt, wait, error);
        if (m_stopping.load())
            throw Error(Exit::temp_fail, "stopped waiting for a busy database: {}", error.what());
    };
    m_staging.prepare();
    std::vector<std::string> names;
    for (const auto& agent : batch.agents)
        names.push_back(agent.name);
    m_stager.emplace(m_staging, std::move(names));
    db.stop_waiting_when(m_stopping);
    m_writer.emplace(std::move(db),
                     EvidenceStore(options.shared.evidence, batch.spec_id, batch.stage,
                                   m_started_at, options.lock_timeout, &m_stopping),
                     out, static_cast<std::size_t>(options.max_response), retry, m_log);

    std::random_device seed;
    std::mt19937_64 random((static_cast<std::uint64_t>(seed()) << 32) ^ seed() ^
                           static_cast<std::uint64_t>(m_batch_watch.elapsed_us()));
    m_agents.resize(batch.agents.size());
    for (std::size_t i = 0; i < m_agents.size(); ++i) {
        const auto& spec = batch.agents[i];
        auto& agent = m_agents[i];
        agent.spec = &spec;
        agent.info = {new_agent_id(random, m_started_at), spec.name, spec.command,
                      names_of(spec.env)};
        agent.record.agent_id = agent.info.agent_id;
        agent.record.agent_name = spec.name;
        agent.record.outcome = "cancelled";  // until it is started
        agent.record.spawned_at = m_started_at;
    }

    const std::size_t asked = options.sequential ? 1
                              : options.jobs > 0 ? static_cast<std::size_t>(options.jobs)
                                                 : m_agents.size();
    // More agents than the open-file limit allows wait for a free place, as with --jobs.
    m_limit = common::make_room_for_children(asked);
    m_one_by_one = m_limit < m_agents.size();
    if (m_log && m_limit < asked)
        *m_log << fmt::format("spawn-agents: at most {} agent{} at once: the limit on open files\n",
                              m_limit, m_limit == 1 ? "" : "s");
    // Orphans of the agents come back to this process, so that none outlives the batch.
    if (!common::become_subreaper() && m_log)
        *m_log << "spawn-agents: cannot become a child subreaper: a process that leaves its "
                  "agent's tree is not ended\n";
}

int BatchRunner::run()
{
    for (;;) {
        start();
        if (!m_spawns_posted && (m_next == m_agents.size() || m_stopped_by)) post_spawns();
        m_status.show(m_progress);
        if (m_children.running() == 0 && m_spawns_posted) break;
        drain(std::nullopt);
    }
    return finish();
}

void BatchRunner::start()
{
    while (!m_stopped_by && m_next < m_agents.size() && m_children.running() < m_limit) {
        start_agent(m_agents[m_next++]);
        if (m_one_by_one && m_next < m_agents.size()) post_spawns();
        // Between two starts, at most once a millisecond (a look costs a poll of every
        // running agent), what is ready without waiting: input keeps flowing, and the files of
        // agents that have already ended are written while others start.
        const auto now = std::chrono::steady_clock::now();
        if (m_next < m_agents.size() && now - m_last_look >= std::chrono::milliseconds(1)) {
            m_last_look = now;
            drain(std::chrono::milliseconds(0));
        }
    }
}

void BatchRunner::start_agent(AgentRun& agent)
{
    const auto& spec = *agent.spec;
    const auto timeout = spec.timeout_s
                             ? std::chrono::milliseconds(std::llround(*spec.timeout_s * 1000.0))
                             : m_options.timeout;
    agent.record.spawned_at = m_clock();
    if (!m_spawn_phase) m_spawn_phase.emplace();
    common::SpawnResult started;
    try {
        agent.staged = m_stager->take();
        started = m_children.start(
            {.argv = spec.command,
             // Without overrides, this process's own, not a copy.
             .environment = spec.env.empty() ? std::nullopt
                                             : std::optional(common::environment_with(spec.env)),
             .cwd = spec.cwd,
             .input = spec.prompt,
             .timeout = timeout,
             .stdout_fd = agent.staged.output->fd(),
             .stderr_sink = [&agent](std::string_view chunk) {
                 agent.staged.append_errors(chunk);
             }});
        // The agent holds its own copy: none is held here while it runs.
        agent.staged.output->close_unflushed();
    } catch (const Error& error) {
        started.error = EIO;
        started.message = error.what();
    }
    m_spawn_wall_us = m_spawn_phase->elapsed_us();
    ++m_progress.started;
    if (!started.ok()) {
        agent.staged = {};
        agent.record.outcome = "spawn_failed";
        agent.record.error = started.message;
        ++m_progress.failed;
        ++m_totals.failures["spawn_failed"];
        // Said to people as well as in the row and the event: an agent that never ran.
        m_logger.note(fmt::format("{}: not started: {}", spec.name, started.message));
        return;
    }
    agent.record.outcome = "running";
    agent.record.pid = started.pid;
    agent.record.pid_start = started.start_ticks.value_or(0);
    agent.record.spawn_latency_us = started.latency_us;
    m_agent_of_child[started.id] = static_cast<std::size_t>(&agent - m_agents.data());
    ++m_progress.running;
    if (m_log)
        *m_log << fmt::format("spawn-agents: started {} (pid {}) in {} us\n", spec.name,
                              started.pid, started.latency_us);
}

void BatchRunner::post_spawns()
{
    common::BatchRecord record{.spec_id = m_batch.spec_id,
                               .stage = m_batch.stage,
                               .run_id = m_batch.run_id,
                               .branch_id = m_batch.branch_id,
                               .phase_type = m_batch.phase_type,
                               .mode = m_options.sequential ? "sequential" : "parallel",
                               .spawn_wall_us = m_spawn_wall_us,
                               .agent_count = static_cast<std::int64_t>(m_agents.size()),
                               .started_at = m_started_at,
                               .owner = common::current_process()};
    const bool last = m_next == m_agents.size() || m_stopped_by;
    const auto upto = last ? m_agents.size() : m_next;
    std::vector<common::AgentRecord> records;
    std::vector<AgentInfo> infos;
    for (; m_posted < upto; ++m_posted) {
        auto& agent = m_agents[m_posted];
        if (agent.record.outcome == "cancelled") {
            ++m_progress.failed;
            ++m_totals.failures["cancelled"];
        }
        records.push_back(agent.record);
        infos.push_back(agent.info);
    }
    if (!records.empty())
        m_writer->post_spawns(std::move(record), std::move(records), std::move(infos));
    m_spawns_posted = last;
}

void BatchRunner::drain(std::optional<std::chrono::milliseconds> max_wait)
{
    auto events = m_children.wait(max_wait, &m_signals);
    if (events.signal) m_stopping = true;
    if (events.signal && !m_stopped_by) {
        m_stopped_by = events.signal;
        if (m_log)
            *m_log << fmt::format("spawn-agents: signal {} received; passing it to every agent\n",
                                  *events.signal);
        m_children.cancel_all(*events.signal);
    }
    for (auto& child : events.finished) {
        const auto index = m_agent_of_child.at(child.id);
        const auto outcome = outcome_of(child);
        --m_progress.running;
        if (outcome == "success") {
            ++m_progress.finished;
            ++m_totals.successes;
        } else {
            ++m_progress.failed;
            ++m_totals.failures[outcome];
        }
        auto& agent = m_agents[index];
        agent.staged.end_errors();
        m_writer->post_exit(agent.info, std::move(child), std::move(agent.staged));
    }
}

int BatchRunner::finish()
{
    // What the agents left behind (daemons, processes that left their group) ends with them.
    if (const auto ended = m_strays.end_now(); m_log && ended > 0)
        *m_log << fmt::format("spawn-agents: ended {} processes the agents left behind\n", ended);

    m_totals.batch_wall_us = m_batch_watch.elapsed_us();
    m_totals.spawn_wall_us = m_spawn_wall_us;
    m_totals.finished_at = m_clock();
    const bool all_succeeded = m_totals.successes == static_cast<std::int64_t>(m_agents.size());
    m_writer->post_finish(std::move(m_totals));
    try {
        m_writer->close(&m_signals, [&](int signal) {
            m_stopping = true;
            if (!m_stopped_by) m_stopped_by = signal;
        });
    } catch (const Error& error) {
        // Stopped by a signal, the batch ends as interrupted; what could not be written is
        // said all the same.
        if (!m_stopped_by) throw;
        m_err << fmt::format("spawn-agents: error: {}\n", common::one_line(error.what()));
    }
    // The shell's convention, so that a service manager or a loop tells "interrupted" from
    // "failed".
    if (m_stopped_by) return 128 + *m_stopped_by;
    return all_succeeded ? 0 : 1;
}

}  // namespace

int run_batch(const Batch& batch, const Options& options, common::Database db, std::ostream& out,
              std::ostream& err)
{
    // Before the writer's thread starts, so that it blocks SIGINT and SIGTERM too and they
    // arrive here, on the descriptor the drain loop watches.
    common::SignalWatch signals;
    BatchRunner runner(batch, options, std::move(db), out, err, signals);
    return runner.run();
}

int run(const Options& options, std::ostream& out, std::ostream& err)
{
    const auto source = common::input_name(options.batch);
    const auto batch = parse_batch(common::read_input(options.batch), source);
    if (common::make_room_for_children(1) == 0)
        throw Error(Exit::software, "the limit on open files leaves no room for an agent "
                                    "(raise it with ulimit -n); nothing was started");
    // An evidence root that cannot take the output is refused before any agent runs.
    EvidenceStore(options.shared.evidence, batch.spec_id, batch.stage, common::TimePoint{})
        .prepare();

    auto db = common::schema::open_for_writing(
        options.shared.database,
        {.mode = common::OpenMode::create, .busy_timeout_ms = options.shared.busy_timeout_ms});
    common::schema::migrate(db);
    common::mark_lost_runs(db);
    return run_batch(batch, options, std::move(db), out, err);
}

}  // namespace spawn_agents
