// metrics-report's stream source: spawn-agents' JSON Lines.
#include "metrics_report.hpp"

#include "common/clock.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/jsonl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <set>
#include <unordered_map>

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
    bool spec_from_batch = false;  // an exit alone names no spec: its batch event does
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

// Everything the stream holds, in stream order; spawns by agent id for their exits.
struct StreamRecords {
    std::vector<StreamSpawn> spawns;
    std::unordered_map<std::string, std::size_t> by_agent_id;
    std::vector<StreamBatch> batches;
};

void add_spawned(const Event& event, StreamRecords& records)
{
    StreamSpawn spawn;
    const auto agent_id = event.text("agent_id");
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
    records.by_agent_id[agent_id] = records.spawns.size();
    records.spawns.push_back(std::move(spawn));
}

void add_exited(const Event& event, StreamRecords& records)
{
    const auto outcome = outcome_from_name(event.text("outcome"));
    if (!known_outcome(outcome) || outcome == Outcome::running)
        event.fail("outcome", "success, exit, timeout, signal, cancelled or lost");
    const auto agent_id = event.text("agent_id");
    auto found = records.by_agent_id.find(agent_id);
    if (found == records.by_agent_id.end()) {
        // An agent cancelled before it started has an exit and no spawn; any other exit
        // whose spawn is not in the stream (a cut stream) has nothing to add to.
        if (outcome != Outcome::cancelled) return;
        StreamSpawn never_started;
        never_started.record.agent = event.text("agent");
        never_started.batch_id = event.optional_integer("batch_id").value_or(-1);
        never_started.time = event.optional_time("time");
        never_started.spec_from_batch = true;
        found = records.by_agent_id.emplace(agent_id, records.spawns.size()).first;
        records.spawns.push_back(std::move(never_started));
    }
    auto& record = records.spawns[found->second].record;
    record.outcome = outcome;
    record.run_time_ms = measurement(event, "run_time_ms");
    record.cpu_time_us = measurement(event, "cpu_time_us");
    record.max_rss_kb = measurement(event, "max_rss_kb");
}

void add_batch(const Event& event, StreamRecords& records)
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
    records.batches.push_back(std::move(batch));
}

// The newest `window` of `picked` by time (stream order among equal or missing times), oldest
// first.
template <typename T, typename Time>
std::vector<const T*> newest(std::vector<const T*> picked,
                             const std::optional<std::int64_t>& window, Time time)
{
    std::stable_sort(picked.begin(), picked.end(),
                     [&](const T* a, const T* b) { return time(*a) < time(*b); });
    if (window && picked.size() > static_cast<std::size_t>(*window))
        picked.erase(picked.begin(), picked.end() - static_cast<std::ptrdiff_t>(*window));
    return picked;
}

// Feeds the records `selection` picks into `builder`.
void pick(StreamRecords& records, const Selection& selection, ReportBuilder& builder)
{
    std::unordered_map<std::int64_t, const StreamBatch*> batch_of;
    for (const auto& batch : records.batches)
        batch_of.emplace(batch.batch_id, &batch);
    std::set<std::int64_t> agent_batches;
    std::vector<const StreamSpawn*> picked;
    for (auto& spawn : records.spawns) {
        // The stream has ended, so its writer has: an agent that never exited was lost.
        if (spawn.record.outcome == Outcome::running) spawn.record.outcome = Outcome::lost;
        if (const auto batch = batch_of.find(spawn.batch_id);
            spawn.spec_from_batch && batch != batch_of.end()) {
            spawn.spec = batch->second->spec;
            spawn.stage = batch->second->stage;
        }
        if (selection.agent && spawn.record.agent != *selection.agent) continue;
        if (selection.agent) agent_batches.insert(spawn.batch_id);
        if (selected(selection, spawn.time, spawn.spec, spawn.stage)) picked.push_back(&spawn);
    }
    for (const auto* spawn : newest(std::move(picked), selection.spawns,
                                    [](const StreamSpawn& spawn) { return spawn.time; }))
        builder.add(spawn->record);

    std::vector<const StreamBatch*> picked_batches;
    for (const auto& batch : records.batches) {
        if (selection.agent && agent_batches.count(batch.batch_id) == 0) continue;
        if (selected(selection, batch.started, batch.spec, batch.stage))
            picked_batches.push_back(&batch);
    }
    for (const auto* batch : newest(std::move(picked_batches), selection.batches,
                                    [](const StreamBatch& batch) { return batch.started; }))
        builder.add(batch->record);
}

}  // namespace

void read_stream(std::istream& in, const std::string& source, const Selection& selection,
                 ReportBuilder& builder)
{
    common::JsonLinesReader reader(in, source);
    StreamRecords records;
    while (const auto line = reader.next()) {
        const Event event(*line, reader);
        const auto kind = event.text("event");
        if (kind == "spawned") add_spawned(event, records);
        if (kind == "exited") add_exited(event, records);
        if (kind == "batch") add_batch(event, records);
        // Other events are for other readers: a newer spawn-agents may add some.
    }
    pick(records, selection, builder);
}

}  // namespace metrics_report
