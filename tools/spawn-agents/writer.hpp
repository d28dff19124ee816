#pragma once
// The writes of one batch — database rows, evidence files, JSON Lines events — done in order
// on a thread of their own with a connection of its own, so that neither a busy database nor
// a slow disk ever stalls the draining of the agents' output.

#include "common/clock.hpp"
#include "common/json.hpp"
#include "common/jsonl.hpp"
#include "common/process.hpp"
#include "common/records.hpp"
#include "common/sqlite.hpp"
#include "common/tree.hpp"
#include "evidence.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace spawn_agents {

// An agent of the batch as the events and the telemetry name it.
struct AgentInfo {
    std::string agent_id;
    std::string name;
    std::vector<std::string> command;
    std::vector<std::string> env_names;  // never the values
};

// The outcome of an agent that was started, as the rows and events spell it.
std::string outcome_of(const common::FinishedChild& child);

// The first `cap` bytes of `text`, cut at a character boundary, invalid UTF-8 replaced.
std::string capped_response(std::string_view text, std::size_t cap);

struct BatchTotals {
    std::int64_t successes = 0;
    std::map<std::string, std::int64_t> failures;  // by outcome
    std::int64_t batch_wall_us = 0;
    std::int64_t spawn_wall_us = 0;  // first spawn call to last exec, over the whole batch
    common::TimePoint finished_at;
};

class BatchWriter {
public:
    // Starts the thread. `db` is the writer's own connection; `log` (nullable) gets --verbose
    // lines. Create after any SignalWatch, so that the thread blocks its signals too.
    BatchWriter(common::Database db, EvidenceStore evidence, std::ostream& out,
                std::size_t max_response, common::RetryPolicy retry, std::ostream* log);
    BatchWriter(const BatchWriter&) = delete;
    BatchWriter& operator=(const BatchWriter&) = delete;
    // Finishes what was posted and joins; never throws.
    ~BatchWriter();

    // The spawn phase: one transaction for the batch and the agents started together, then a
    // "spawned" event per agent that was attempted (and an "exited" one per agent cancelled
    // before its start). Later calls add the agents started since (--sequential, --jobs).
    void post_spawns(common::BatchRecord batch, std::vector<common::AgentRecord> agents,
                     std::vector<AgentInfo> infos);
    // An exit: its staged evidence files (which the agent wrote) read back and named, the
    // row's update, the "exited" event. May come before post_spawns(): the files are then
    // flushed and named with the spawns' rows, when the disk no longer competes with agents
    // starting; the row and the event wait for the spawn phase's transaction.
    void post_exit(const AgentInfo& info, common::FinishedChild child, StagedOutput staged);
    // The end: telemetry file, the batch row finished, the "batch" summary event.
    void post_finish(BatchTotals totals);

    // Waits until everything posted is done and stops the thread, watching `signals` (when
    // given) meanwhile: `on_signal` is called with each SIGINT or SIGTERM, so that a wait
    // for a busy database or a held lock never delays the answer. Throws the first error a
    // write met (after the others were still attempted): a database error (75 when busy),
    // 73/74 for evidence, 74 for stdout.
    void close(common::SignalWatch* signals = nullptr,
               const std::function<void(int)>& on_signal = {});

private:
    struct SpawnsJob {
        common::BatchRecord batch;
        std::vector<common::AgentRecord> agents;
        std::vector<AgentInfo> infos;
    };
    struct ExitJob {
        AgentInfo info;
        common::FinishedChild child;
        common::TimePoint completed_at;
        StagedOutput staged;     // until named
        OutputFacts facts;       // what the staged files hold
        AgentEvidence evidence;  // once named
    };
    using Job = std::variant<SpawnsJob, ExitJob, BatchTotals>;

    void post(Job job);
    // Moves what was posted to the end of `into`, without waiting.
    void take_posted(std::deque<Job>& into);
    // Waits until something is posted and moves it to `into`; returns false (and says the
    // thread is done) once closing leaves nothing to do.
    bool wait_for_jobs(std::deque<Job>& into);
    void loop();
    void record_spawns(const SpawnsJob& job);
    // Exits that were waiting together: their files are named together and their rows
    // updated in one transaction. Before the spawns are recorded, they wait.
    void record_exits(std::vector<ExitJob> exits);
    // Flushes and names the staged files of the waiting exits when get() is called or, with
    // `on_own_thread`, starts doing so on a thread of its own when one is to be had.
    std::future<std::vector<AgentEvidence>> place_waiting_files(bool on_own_thread);
    // The exits that waited: their staged files flushed and named by `placing`, their rows.
    void record_waiting_exits(std::future<std::vector<AgentEvidence>> placing);
    // The rows and events of exits whose files are written.
    void record_exit_rows(std::span<const ExitJob> exits);
    // An exit's --verbose line, telemetry and "exited" event.
    // `flush`: false while more events follow at once (see emit()).
    void tell_exit(const ExitJob& job, const common::ExitRecord& exit, bool flush);
    // Runs `step`; a thrown error is kept (the first one) and false returned.
    bool attempt(const std::function<void()>& step);
    // Writes an event; `flush` false holds it until the next flushed one, for events that
    // come together (a batch's spawns, the exits written together).
    void emit(const common::Json& event, bool flush = true);
    void finish(const BatchTotals& totals);

    common::Database m_db;
    EvidenceStore m_evidence;
    common::JsonLinesWriter m_events;
    std::size_t m_max_response;
    common::RetryPolicy m_retry;
    std::ostream* m_log;

    // Owned by the writer thread once started.
    std::optional<std::int64_t> m_batch_id;
    common::BatchRecord m_batch;
    std::vector<std::string> m_order;                 // agent ids as given
    std::map<std::string, common::Json> m_telemetry;  // per agent id
    bool m_spawns_recorded = false;
    std::vector<ExitJob> m_waiting;                // exits staged before the spawns were recorded
    std::vector<common::ExitRecord> m_unrecorded;  // exits whose update could not be written
    bool m_events_failed = false;
    std::exception_ptr m_error;

    std::mutex m_mutex;
    std::condition_variable m_ready;
    std::deque<Job> m_jobs;
    bool m_closing = false;
    bool m_finished = false;  // the thread has done everything posted
    // Readable once m_finished is set: close() waits on it beside the signal descriptor.
    common::UniqueFd m_finished_fd;
    std::thread m_thread;
};

}  // namespace spawn_agents
