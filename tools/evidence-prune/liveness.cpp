#include "liveness.hpp"

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/runs.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace evidence_prune {
namespace {

bool has_column(const common::Database& db, std::string_view table, std::string_view column)
{
    const auto columns = db.column_names(table);
    return std::find(columns.begin(), columns.end(), column) != columns.end();
}

// True when `spawned_at` is within `stale_after` of `now`; a time that cannot be read counts
// as recent, so that a row of unknown age keeps its spec.
bool spawned_recently(const std::string& spawned_at, common::TimePoint now,
                      std::chrono::seconds stale_after)
{
    try {
        return now - common::parse_time(spawned_at) <= stale_after;
    } catch (const common::Error&) {
        return true;
    }
}

}  // namespace

std::set<std::string> specs_in_flight(common::Database& db, bool may_write, common::TimePoint now,
                                      std::chrono::seconds stale_after)
{
    std::set<std::string> specs;
    if (!db.table_exists("agent_executions") || !has_column(db, "agent_executions", "spec_id"))
        return specs;
    const bool toolkit = has_column(db, "agent_executions", "outcome") &&
                         has_column(db, "agent_executions", "batch_id") &&
                         db.table_exists("spawn_batches") &&
                         has_column(db, "spawn_batches", "owner_pid");
    if (toolkit && may_write) common::mark_lost_runs(db);
    const auto spawned = has_column(db, "agent_executions", "spawned_at") ? "e.spawned_at" : "NULL";
    const auto sql =
        toolkit ? fmt::format("SELECT e.spec_id, {}, e.outcome, b.owner_pid, b.owner_start "
                              "FROM agent_executions e LEFT JOIN spawn_batches b "
                              "ON b.batch_id = e.batch_id WHERE e.completed_at IS NULL",
                              spawned)
                : fmt::format("SELECT e.spec_id, {}, NULL, NULL, NULL FROM agent_executions e "
                              "WHERE e.completed_at IS NULL",
                              spawned);
    auto rows = db.prepare(sql);
    while (rows.step()) {
        const auto spec = rows.column_text(0);
        const auto outcome = rows.column_text(2);
        const auto owner = rows.column_int_optional(3);
        if (!outcome.empty() && outcome != "running") continue;
        if (owner) {
            const common::ProcessIdentity identity{
                static_cast<pid_t>(*owner),
                static_cast<std::uint64_t>(rows.column_int_optional(4).value_or(0))};
            if (common::process_liveness(identity) != common::Liveness::gone) specs.insert(spec);
            continue;
        }
        if (spawned_recently(rows.column_text(1), now, stale_after)) specs.insert(spec);
    }
    return specs;
}

}  // namespace evidence_prune
