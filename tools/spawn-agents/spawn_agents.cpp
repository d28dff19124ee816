#include "spawn_agents.hpp"

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/input.hpp"
#include "common/log.hpp"
#include "common/process.hpp"
#include "common/process_tree.hpp"
#include "common/records.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"
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

// A random version-4 UUID: agent_id is the upstream table's primary key.
std::string new_agent_id(std::mt19937_64& random)
{
    const auto high = random();
    const auto low = random();
    return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff,
                       high & 0xfff, 0x8000 | ((low >> 48) & 0x3fff), low & 0xffffffffffffull);
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

}  // namespace

int run_batch(const Batch& batch, const Options& options, common::Database db, std::ostream& out,
              std::ostream& err)
{
    // Before the writer's thread starts, so that it blocks SIGINT and SIGTERM too and they
    // arrive here, on the descriptor the drain loop watches.
    common::SignalWatch signals;
    const auto clock = common::system_clock();
    const auto started_at = clock();
    const common::Stopwatch batch_watch;
    std::ostream* log = options.shared.verbose ? &err : nullptr;

    // Outlives the writer, whose retries it tells about under --verbose.
    const common::Log logger("spawn-agents", err, options.shared);
    // Set by SIGINT or SIGTERM: waits for a busy database or a held lock end at once.
    std::atomic<bool> stopping{false};
    auto retry = logger.retry_policy();
    retry.on_retry = [tell = retry.on_retry, &stopping](int attempt, std::chrono::milliseconds wait,
                                                        const common::SqliteError& error) {
        if (tell) tell(attempt, wait, error);
        if (stopping.load())
            throw Error(Exit::temp_fail, "stopped waiting for a busy database: {}", error.what());
    };
    // Agents write their output straight into files staged here; the writer names them.
    EvidenceStore staging(options.shared.evidence, batch.spec_id, batch.stage, started_at,
                          options.lock_timeout, &stopping);
    staging.prepare();
    db.stop_waiting_when(stopping);
    BatchWriter writer(std::move(db),
                       EvidenceStore(options.shared.evidence, batch.spec_id, batch.stage,
                                     started_at, options.lock_timeout, &stopping),
                       out, static_cast<std::size_t>(options.max_response), retry, log);

    std::random_device seed;
    std::mt19937_64 random((static_cast<std::uint64_t>(seed()) << 32) ^ seed() ^
                           static_cast<std::uint64_t>(batch_watch.elapsed_us()));
    std::vector<AgentRun> agents(batch.agents.size());
    for (std::size_t i = 0; i < agents.size(); ++i) {
        const auto& spec = batch.agents[i];
        agents[i].spec = &spec;
        agents[i].info = {new_agent_id(random), spec.name, spec.command, names_of(spec.env)};
        agents[i].record.agent_id = agents[i].info.agent_id;
        agents[i].record.agent_name = spec.name;
        agents[i].record.outcome = "cancelled";  // until it is started
        agents[i].record.spawned_at = started_at;
    }

    const std::size_t asked = options.sequential ? 1
                              : options.jobs > 0 ? static_cast<std::size_t>(options.jobs)
                                                 : agents.size();
    // More agents than the open-file limit allows wait for a free place, as with --jobs.
    const std::size_t limit = common::make_room_for_children(asked);
    if (log && limit < asked)
        *log << fmt::format("spawn-agents: at most {} agents at once: the limit on open files\n",
                            limit);
    // Orphans of the agents come back to this process, so that none outlives the batch.
    const bool subreaper = common::become_subreaper();
    if (log && !subreaper)
        *log << "spawn-agents: cannot become a child subreaper: a process that leaves its "
                "agent's tree is not ended\n";
    common::ProcessSet children(options.kill_grace);
    std::map<std::size_t, std::size_t> agent_of_child;  // ProcessSet id -> index in agents
    StatusLine status(options.status_line ? &err : nullptr,
                      fmt::format("{} {}", batch.spec_id, batch.stage));
    Progress progress{.agents = agents.size()};
    BatchTotals totals;

    std::size_t next = 0;
    std::optional<int> stopped_by;  // SIGINT or SIGTERM received
    bool spawns_posted = false;
    std::optional<common::Stopwatch> spawn_phase;
    std::int64_t spawn_wall_us = 0;

    const auto start_agent = [&](AgentRun& agent) {
        const auto& spec = *agent.spec;
        const auto timeout = spec.timeout_s
                                 ? std::chrono::milliseconds(std::llround(*spec.timeout_s * 1000.0))
                                 : options.timeout;
        agent.record.spawned_at = clock();
        if (!spawn_phase) spawn_phase.emplace();
        common::SpawnResult started;
        try {
            agent.staged = staging.stage_agent(spec.name);
            started = children.start({.argv = spec.command,
                                      .environment = common::environment_with(spec.env),
                                      .cwd = spec.cwd,
                                      .input = spec.prompt,
                                      .timeout = timeout,
                                      .stdout_fd = agent.staged.output->fd(),
                                      .stderr_fd = agent.staged.errors->fd()});
            // The agent holds its own copies: none is held here while it runs.
            agent.staged.output->close_unflushed();
            agent.staged.errors->close_unflushed();
        } catch (const Error& error) {
            started.error = EIO;
            started.message = error.what();
        }
        spawn_wall_us = spawn_phase->elapsed_us();
        ++progress.started;
        if (!started.ok()) {
            agent.staged = {};
            agent.record.outcome = "spawn_failed";
            agent.record.error = started.message;
            ++progress.failed;
            ++totals.failures["spawn_failed"];
            // Said to people as well as in the row and the event: an agent that never ran.
            logger.note(fmt::format("{}: not started: {}", spec.name, started.message));
            return;
        }
        agent.record.outcome = "running";
        agent.record.pid = started.pid;
        if (const auto stat = common::read_process_stat(started.pid))
            agent.record.pid_start = stat->start_ticks;
        agent.record.spawn_latency_us = started.latency_us;
        agent_of_child[started.id] = static_cast<std::size_t>(&agent - agents.data());
        ++progress.running;
        if (log)
            *log << fmt::format("spawn-agents: started {} (pid {}) in {} us\n", spec.name,
                                started.pid, started.latency_us);
    };

    std::size_t posted = 0;  // agents[0, posted) have had their spawn posted
    const auto post_spawns = [&] {
        common::BatchRecord record{.spec_id = batch.spec_id,
                                   .stage = batch.stage,
                                   .run_id = batch.run_id,
                                   .branch_id = batch.branch_id,
                                   .phase_type = batch.phase_type,
                                   .mode = options.sequential ? "sequential" : "parallel",
                                   .spawn_wall_us = spawn_wall_us,
                                   .agent_count = static_cast<std::int64_t>(agents.size()),
                                   .started_at = started_at,
                                   .owner = common::current_process()};
        // Until the batch ends, only the agents started so far; then the others, cancelled.
        const bool last = next == agents.size() || stopped_by;
        const auto upto = last ? agents.size() : next;
        std::vector<common::AgentRecord> records;
        std::vector<AgentInfo> infos;
        for (; posted < upto; ++posted) {
            auto& agent = agents[posted];
            if (agent.record.outcome == "cancelled") {
                ++progress.failed;
                ++totals.failures["cancelled"];
            }
            records.push_back(agent.record);
            infos.push_back(agent.info);
        }
        if (!records.empty())
            writer.post_spawns(std::move(record), std::move(records), std::move(infos));
        spawns_posted = last;
    };
    // With fewer places than agents, each spawn is recorded as it happens: a batch killed
    // half-way still shows what it started.
    const bool one_by_one = limit < agents.size();

    const auto take = [&](common::WaitResult events) {
        if (events.signal) stopping = true;
        if (events.signal && !stopped_by) {
            stopped_by = events.signal;
            if (log)
                *log << fmt::format("spawn-agents: signal {} received; passing it to every agent\n",
                                    *events.signal);
            children.cancel_all(*events.signal);
        }
        for (auto& child : events.finished) {
            const auto index = agent_of_child.at(child.id);
            const auto outcome = outcome_of(child);
            --progress.running;
            if (outcome == "success") {
                ++progress.finished;
                ++totals.successes;
            } else {
                ++progress.failed;
                ++totals.failures[outcome];
            }
            writer.post_exit(agents[index].info, std::move(child), std::move(agents[index].staged));
        }
    };

    for (;;) {
        while (!stopped_by && next < agents.size() && children.running() < limit) {
            start_agent(agents[next++]);
            if (one_by_one && next < agents.size()) post_spawns();
            // Between two starts, what is ready without waiting: output keeps draining, and
            // the files of agents that have already ended are written while others start.
            if (next < agents.size()) take(children.wait(std::chrono::milliseconds(0), &signals));
        }
        if (!spawns_posted && (next == agents.size() || stopped_by)) post_spawns();
        status.show(progress);
        if (children.running() == 0 && spawns_posted) break;
        take(children.wait(std::nullopt, &signals));
    }
    // What the agents left behind (daemons, processes that left their group) ends with them.
    if (const auto ended = common::end_descendants(); log && ended > 0)
        *log << fmt::format("spawn-agents: ended {} processes the agents left behind\n", ended);

    totals.batch_wall_us = batch_watch.elapsed_us();
    totals.spawn_wall_us = spawn_wall_us;
    totals.finished_at = clock();
    const bool all_succeeded = totals.successes == static_cast<std::int64_t>(agents.size());
    writer.post_finish(std::move(totals));
    try {
        writer.close(&signals, [&](int signal) {
            stopping = true;
            if (!stopped_by) stopped_by = signal;
        });
    } catch (const Error& error) {
        // Stopped by a signal, the batch ends as interrupted; what could not be written is
        // said all the same.
        if (!stopped_by) throw;
        err << fmt::format("spawn-agents: error: {}\n", error.what());
    }
    // The shell's convention, so that a service manager or a loop tells "interrupted" from
    // "failed".
    if (stopped_by) return 128 + *stopped_by;
    return all_succeeded ? 0 : 1;
}

int run(const Options& options, std::ostream& out, std::ostream& err)
{
    const auto source = common::input_name(options.batch);
    const auto batch = parse_batch(common::read_input(options.batch), source);
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
