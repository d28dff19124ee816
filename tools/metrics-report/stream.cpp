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

}  // namespace

void read_stream(std::istream& in, const std::string& source, const Selection& selection,
                 ReportBuilder& builder)
{
    common::JsonLinesReader reader(in, source);
    std::vector<StreamSpawn> spawns;
    std::unordered_map<std::string, std::size_t> by_agent_id;
    std::vector<StreamBatch> batches;
    while (const auto line = reader.next()) {
        const Event event(*line, reader);
        const auto kind = event.text("event");
        if (kind == "spawned") {
            StreamSpawn spawn;
            const auto agent_id = event.text("agent_id");
            spawn.record.agent = event.text("agent");
            // Null when spawn-agents could not record the batch: it is still in the stream.
            spawn.batch_id = event.optional_integer("batch_id").value_or(-1);
            spawn.spec = event.text("spec_id");
            spawn.stage = event.text("stage");
            spawn.time = event.optional_time("time");
            const auto outcome = event.text("outcome");
            spawn.record.outcome = outcome_from_name(outcome);
            if (spawn.record.outcome != Outcome::running &&
                spawn.record.outcome != Outcome::spawn_failed)
                event.fail("outcome", "\"running\" or \"spawn_failed\"");
            spawn.record.spawned = spawn.record.outcome == Outcome::running;
            spawn.record.spawn_latency_us = event.optional_integer("spawn_latency_us");
            by_agent_id[agent_id] = spawns.size();
            spawns.push_back(std::move(spawn));
        } else if (kind == "exited") {
            const auto found = by_agent_id.find(event.text("agent_id"));
            // An exit whose spawn is not in the stream (a cut stream) has nothing to add to.
            if (found == by_agent_id.end()) continue;
            auto& record = spawns[found->second].record;
            record.outcome = outcome_from_name(event.text("outcome"));
            if (!known_outcome(record.outcome) || record.outcome == Outcome::running)
                event.fail("outcome", "success, exit, timeout, signal, cancelled or lost");
            record.run_time_ms = event.optional_integer("run_time_ms");
            record.cpu_time_us = event.optional_integer("cpu_time_us");
            record.max_rss_kb = event.optional_integer("max_rss_kb");
        } else if (kind == "batch") {
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
            batch.record.spawn_wall_us = event.optional_integer("spawn_wall_us");
            batch.record.batch_wall_us = event.optional_integer("batch_wall_us");
            batches.push_back(std::move(batch));
        }
        // Other events are for other readers: a newer spawn-agents may add some.
    }

    std::set<std::int64_t> agent_batches;
    std::vector<const StreamSpawn*> picked;
    for (auto& spawn : spawns) {
        // The stream has ended, so its writer has: an agent that never exited was lost.
        if (spawn.record.outcome == Outcome::running) spawn.record.outcome = Outcome::lost;
        if (selection.agent && spawn.record.agent != *selection.agent) continue;
        if (selection.agent) agent_batches.insert(spawn.batch_id);
        if (selected(selection, spawn.time, spawn.spec, spawn.stage)) picked.push_back(&spawn);
    }
    const auto newest = [](std::size_t size, const std::optional<std::int64_t>& window) {
        return window ? size - std::min(size, static_cast<std::size_t>(*window)) : 0;
    };
    for (auto i = newest(picked.size(), selection.spawns); i < picked.size(); ++i)
        builder.add(picked[i]->record);

    std::vector<const StreamBatch*> picked_batches;
    for (const auto& batch : batches) {
        if (selection.agent && agent_batches.count(batch.batch_id) == 0) continue;
        if (selected(selection, batch.started, batch.spec, batch.stage))
            picked_batches.push_back(&batch);
    }
    for (auto i = newest(picked_batches.size(), selection.batches); i < picked_batches.size(); ++i)
        builder.add(picked_batches[i]->record);
}
}  // namespace metrics_report
