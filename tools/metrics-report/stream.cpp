// metrics-report's stream source: spawn-agents' JSON Lines.
#include "metrics_report.hpp"

#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/jsonl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace metrics_report {
namespace {

using common::Error;
using common::Exit;

// Typed access to one event's fields; errors name the line and the field.
class Event {
public:
    Event(const nlohmann::json& event, const common::JsonLinesReader& reader)
        : m_event(event), m_reader(reader)
    {
    }

    std::string text(std::string_view key) const
    {
        const auto* value = find(key);
        if (!value || !value->is_string()) fail(key, "a string");
        return value->get<std::string>();
    }
    std::optional<std::string> optional_text(std::string_view key) const
    {
        const auto* value = find(key);
        if (!value || value->is_null()) return std::nullopt;
        if (!value->is_string()) fail(key, "a string or null");
        return value->get<std::string>();
    }
    std::int64_t integer(std::string_view key) const
    {
        const auto value = optional_integer(key);
        if (!value) fail(key, "an integer");
        return *value;
    }
    std::optional<std::int64_t> optional_integer(std::string_view key) const
    {
        const auto* value = find(key);
        if (!value || value->is_null()) return std::nullopt;
        if (!value->is_number_integer() ||
            (value->is_number_unsigned() &&
             value->get<std::uint64_t>() >
                 static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
            fail(key, "an integer or null");
        return value->get<std::int64_t>();
    }
    // A "time" or "started_at" field as a point in time; nullopt when absent.
    std::optional<common::TimePoint> optional_time(std::string_view key) const
    {
        const auto value = optional_text(key);
        if (!value) return std::nullopt;
        try {
            return common::parse_time(*value);
        } catch (const Error&) {
            fail(key, "a UTC time such as 2026-11-27T10:15:00Z");
        }
    }
    [[noreturn]] void fail(std::string_view key, std::string_view expected) const
    {
        throw Error(Exit::data, "{}: \"{}\": expected {}", m_reader.where(), key, expected);
    }
    [[noreturn]] void fail(std::string_view why) const
    {
        throw Error(Exit::data, "{}: {}", m_reader.where(), why);
    }

private:
    const nlohmann::json* find(std::string_view key) const
    {
        const auto it = m_event.find(key);
        return it == m_event.end() ? nullptr : &*it;
    }

    const nlohmann::json& m_event;
    const common::JsonLinesReader& m_reader;
};

struct StreamSpawn {
    SpawnRecord record;
    std::int64_t batch_id = 0;
    std::string spec;
    std::string stage;
    std::optional<common::TimePoint> time;
    std::string agent_id;
};

struct StreamBatch {
    BatchRecord record;
    std::int64_t batch_id = 0;
    std::string spec;
    std::string stage;
    std::optional<common::TimePoint> started;
};

bool known_outcome(Outcome outcome)
{
    return outcome != Outcome::unknown;
}

bool selected(const Selection& selection, const std::optional<common::TimePoint>& time,
              const std::string& spec, const std::string& stage)
{
    if (selection.since && (!time || *time < *selection.since)) return false;
    if (selection.spec && spec != *selection.spec) return false;
    if (selection.stage && stage != *selection.stage) return false;
    return true;
}

// A measurement of `event`, refused (65, naming the line) when it cannot be one.
std::optional<std::int64_t> measurement(const Event& event, std::string_view key)
{
    const auto value = event.optional_integer(key);
    if (const auto why = value ? implausible(key, *value) : std::nullopt) event.fail(*why);
    return value;
}

StreamSpawn spawned_event(const Event& event)
{
    StreamSpawn spawn;
    spawn.record.agent = event.text("agent");
    // Null when spawn-agents could not record the batch: it is still in the stream.
    spawn.batch_id = event.optional_integer("batch_id").value_or(-1);
    spawn.spec = event.text("spec_id");
    spawn.stage = event.text("stage");
    spawn.time = event.optional_time("time");
    spawn.record.outcome = outcome_from_name(event.text("outcome"));
    if (spawn.record.outcome != Outcome::running && spawn.record.outcome != Outcome::spawn_failed)
        event.fail("outcome", "\"running\" or \"spawn_failed\"");
    spawn.record.spawned = spawn.record.outcome == Outcome::running;
    spawn.record.spawn_latency_us = measurement(event, "spawn_latency_us");
    return spawn;
}

Outcome exit_outcome(const Event& event)
{
    const auto outcome = outcome_from_name(event.text("outcome"));
    if (!known_outcome(outcome) || outcome == Outcome::running)
        event.fail("outcome", "success, exit, timeout, signal, cancelled or lost");
    return outcome;
}

void set_exit(const Event& event, Outcome outcome, SpawnRecord& record)
{
    record.outcome = outcome;
    record.run_time_ms = measurement(event, "run_time_ms");
    record.cpu_time_us = measurement(event, "cpu_time_us");
    record.max_rss_kb = measurement(event, "max_rss_kb");
}

StreamBatch batch_event(const Event& event)
{
    StreamBatch batch;
    batch.batch_id = event.optional_integer("batch_id").value_or(-1);
    batch.spec = event.text("spec_id");
    batch.stage = event.text("stage");
    batch.started = event.optional_time("started_at");
    batch.record.mode = event.text("mode");
    if (batch.record.mode != "parallel" && batch.record.mode != "sequential")
        event.fail("mode", "\"parallel\" or \"sequential\"");
    batch.record.agents = event.integer("agents");
    batch.record.successes = event.optional_integer("successes");
    batch.record.spawn_wall_us = measurement(event, "spawn_wall_us");
    batch.record.batch_wall_us = measurement(event, "batch_wall_us");
    return batch;
}

// The newest `limit` of what is put in, by (time, stream order), a missing time oldest: the
// window of a stream held in O(limit) however long the stream is. Without a limit, everything.
template <typename T> class Newest {
public:
    using Key = std::pair<std::optional<common::TimePoint>, std::uint64_t>;
    using Map = std::map<Key, T>;

    explicit Newest(std::optional<std::int64_t> limit) : m_limit(limit) {}

    // Puts `value` in; returns where, or end() when it is older than the whole window.
    // `evicting` is called with what is pushed out, before it goes.
    template <typename Evicting> typename Map::iterator add(Key key, T value, Evicting evicting)
    {
        if (full() && key < m_values.begin()->first) return m_values.end();
        const auto placed = m_values.emplace(std::move(key), std::move(value)).first;
        if (m_limit && m_values.size() > static_cast<std::size_t>(*m_limit)) {
            evicting(m_values.begin());
            m_values.erase(m_values.begin());
        }
        return placed;
    }
    Map& values() { return m_values; }
    typename Map::iterator end() { return m_values.end(); }

private:
    bool full() const { return m_limit && m_values.size() >= static_cast<std::size_t>(*m_limit); }

    std::optional<std::int64_t> m_limit;
    Map m_values;
};

// The stream read so far, keeping only what the window can still hold: the newest spawns
// (by agent id for their exits) and batches the selection picks.
class StreamWindow {
public:
    explicit StreamWindow(const Selection& selection)
        : m_selection(selection), m_spawns(selection.spawns),
          m_batches(selection.agent ? std::nullopt : selection.batches)
    {
        // With --agent a batch is picked by the spawns of the whole stream, known at its end.
    }

    void spawned(StreamSpawn spawn, std::string agent_id);
    void exited(const Event& event, Outcome outcome);
    void batch(StreamBatch batch);
    void finish(ReportBuilder& builder);

private:
    using Spawns = Newest<StreamSpawn>;

    bool by_batch_spec() const { return m_selection.spec || m_selection.stage; }
    void offer(StreamSpawn spawn, std::uint64_t order, const std::string& agent_id);
    void resolve(StreamSpawn& spawn) const;
    void never_started(const Event& event, Outcome outcome, std::uint64_t order,
                       const std::string& agent_id);

    const Selection& m_selection;
    std::uint64_t m_order = 0;
    Spawns m_spawns;
    std::unordered_map<std::string, Spawns::Map::iterator> m_by_agent_id;
    // Spawns not picked or pushed out of the window before they exited: their exits add
    // nothing and are not agents cancelled before they started.
    std::unordered_set<std::string> m_gone_running;
    // Agents that never started, whose spec is their batch's: with --spec/--stage they wait
    // for it; spawn-agents writes a batch's event after its exits.
    std::unordered_multimap<std::int64_t, std::pair<std::uint64_t, StreamSpawn>> m_waiting;
    std::unordered_map<std::int64_t, std::pair<std::string, std::string>> m_batch_specs;
    std::set<std::int64_t> m_agent_batches;
    Newest<StreamBatch> m_batches;
};

void StreamWindow::resolve(StreamSpawn& spawn) const
{
    if (const auto batch = m_batch_specs.find(spawn.batch_id); batch != m_batch_specs.end()) {
        spawn.spec = batch->second.first;
        spawn.stage = batch->second.second;
    }
}

void StreamWindow::offer(StreamSpawn spawn, std::uint64_t order, const std::string& agent_id)
{
    const bool running = spawn.record.outcome == Outcome::running;
    if (!selected(m_selection, spawn.time, spawn.spec, spawn.stage)) {
        if (running) m_gone_running.insert(agent_id);
        return;
    }
    Spawns::Key key{spawn.time, order};
    const auto placed = m_spawns.add(std::move(key), std::move(spawn), [&](auto oldest) {
        const auto& id = oldest->second.agent_id;
        const auto known = m_by_agent_id.find(id);
        if (known == m_by_agent_id.end() || known->second != oldest) return;
        m_by_agent_id.erase(known);
        if (oldest->second.record.outcome == Outcome::running) m_gone_running.insert(id);
    });
    if (placed != m_spawns.end())
        m_by_agent_id[agent_id] = placed;
    else if (running)
        m_gone_running.insert(agent_id);
}

void StreamWindow::spawned(StreamSpawn spawn, std::string agent_id)
{
    const auto order = m_order++;
    m_gone_running.erase(agent_id);
    if (m_selection.agent && spawn.record.agent != *m_selection.agent) {
        if (spawn.record.outcome == Outcome::running) m_gone_running.insert(agent_id);
        return;
    }
    if (m_selection.agent) m_agent_batches.insert(spawn.batch_id);
    spawn.agent_id = agent_id;
    offer(std::move(spawn), order, agent_id);
}

void StreamWindow::exited(const Event& event, Outcome outcome)
{
    const auto order = m_order++;
    const auto agent_id = event.text("agent_id");
    if (const auto found = m_by_agent_id.find(agent_id); found != m_by_agent_id.end()) {
        set_exit(event, outcome, found->second->second.record);
        return;
    }
    if (m_gone_running.erase(agent_id) > 0) {
        SpawnRecord unused;  // the window has no use for it, but a bad exit is still refused
        set_exit(event, outcome, unused);
        return;
    }
    // The exit of a spawn not in the stream (a cut stream) adds nothing, unless it is of an
    // agent cancelled before it started: such an agent has no spawn.
    if (outcome == Outcome::cancelled) never_started(event, outcome, order, agent_id);
}

void StreamWindow::never_started(const Event& event, Outcome outcome, std::uint64_t order,
                                 const std::string& agent_id)
{
    StreamSpawn spawn;
    spawn.record.agent = event.text("agent");
    spawn.batch_id = event.optional_integer("batch_id").value_or(-1);
    spawn.time = event.optional_time("time");
    spawn.agent_id = agent_id;
    set_exit(event, outcome, spawn.record);
    if (m_selection.agent && spawn.record.agent != *m_selection.agent) return;
    if (m_selection.agent) m_agent_batches.insert(spawn.batch_id);
    if (by_batch_spec() && !m_batch_specs.count(spawn.batch_id)) {
        m_waiting.emplace(spawn.batch_id, std::pair{order, std::move(spawn)});
        return;
    }
    resolve(spawn);
    offer(std::move(spawn), order, agent_id);
}

void StreamWindow::batch(StreamBatch batch)
{
    const auto order = m_order++;
    if (by_batch_spec() && !m_batch_specs.count(batch.batch_id)) {
        m_batch_specs.emplace(batch.batch_id, std::pair{batch.spec, batch.stage});
        const auto [first, last] = m_waiting.equal_range(batch.batch_id);
        std::vector<std::pair<std::uint64_t, StreamSpawn>> ready;
        for (auto it = first; it != last; ++it)
            ready.push_back(std::move(it->second));
        m_waiting.erase(first, last);
        for (auto& [waited, spawn] : ready) {
            resolve(spawn);
            const auto id = spawn.agent_id;
            offer(std::move(spawn), waited, id);
        }
    }
    if (!selected(m_selection, batch.started, batch.spec, batch.stage)) return;
    Newest<StreamBatch>::Key key{batch.started, order};
    m_batches.add(std::move(key), std::move(batch), [](auto) {});
}

void StreamWindow::finish(ReportBuilder& builder)
{
    // Agents whose batch never came have no spec.
    for (auto& [batch_id, waiting] : m_waiting) {
        const auto id = waiting.second.agent_id;
        offer(std::move(waiting.second), waiting.first, id);
    }
    m_waiting.clear();
    for (auto& [key, spawn] : m_spawns.values()) {
        // The stream has ended, so its writer has: an agent that never exited was lost.
        if (spawn.record.outcome == Outcome::running) spawn.record.outcome = Outcome::lost;
        builder.add(spawn.record);
    }
    std::vector<const StreamBatch*> picked;
    for (const auto& [key, batch] : m_batches.values())
        if (!m_selection.agent || m_agent_batches.count(batch.batch_id) > 0)
            picked.push_back(&batch);
    if (m_selection.batches && picked.size() > static_cast<std::size_t>(*m_selection.batches))
        picked.erase(picked.begin(),
                     picked.end() - static_cast<std::ptrdiff_t>(*m_selection.batches));
    for (const auto* batch : picked)
        builder.add(batch->record);
}

}  // namespace

void read_stream(std::istream& in, const std::string& source, const Selection& selection,
                 ReportBuilder& builder)
{
    common::JsonLinesReader reader(in, source);
    StreamWindow window(selection);
    while (const auto line = reader.next()) {
        const Event event(*line, reader);
        const auto kind = event.text("event");
        if (kind == "spawned") {
            auto agent_id = event.text("agent_id");
            window.spawned(spawned_event(event), std::move(agent_id));
        }
        if (kind == "exited") window.exited(event, exit_outcome(event));
        if (kind == "batch") window.batch(batch_event(event));
        // Other events are for other readers: a newer spawn-agents may add some.
    }
    window.finish(builder);
}

}  // namespace metrics_report
