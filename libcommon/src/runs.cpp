#include "common/runs.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace common {
namespace {

// Field 22 of /proc/<pid>/stat, the start time in clock ticks; 0 when the process is gone.
// The command name (field 2) may hold spaces and parentheses, so parsing starts after the
// last ')'.
std::uint64_t start_ticks_of(pid_t pid)
{
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string line;
    if (!std::getline(in, line)) return 0;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    // After the command name come state (field 3) ... starttime (field 22): 20 fields.
    for (int i = 3; i <= 22; ++i)
        if (!(fields >> field)) return 0;
    return std::stoull(field);
}

}  // namespace

ProcessIdentity current_process()
{
    const pid_t pid = getpid();
    return {pid, start_ticks_of(pid)};
}

bool is_running(const ProcessIdentity& process)
{
    if (process.pid <= 0) return false;
    const auto ticks = start_ticks_of(process.pid);
    return ticks != 0 && ticks == process.start_ticks;
}

int mark_lost_runs(Database& db, const RetryPolicy& retry)
{
    // Look first without a write lock: almost always nothing is running.
    std::vector<std::int64_t> lost_batches;
    auto owners = db.prepare(
        "SELECT DISTINCT b.batch_id, b.owner_pid, b.owner_start FROM spawn_batches b "
        "JOIN agent_executions e ON e.batch_id = b.batch_id WHERE e.outcome = 'running'");
    while (owners.step()) {
        const ProcessIdentity owner{static_cast<pid_t>(owners.column_int(1)),
                                    static_cast<std::uint64_t>(owners.column_int(2))};
        if (!is_running(owner)) lost_batches.push_back(owners.column_int(0));
    }
    if (lost_batches.empty()) return 0;

    int marked = 0;
    write_transaction(
        db,
        [&] {
            marked = 0;
            auto mark = db.prepare(
                "UPDATE agent_executions SET outcome = 'lost', completed_at = datetime('now') "
                "WHERE batch_id = ? AND outcome = 'running'");
            auto finish = db.prepare("UPDATE spawn_batches SET finished_at = datetime('now') "
                                     "WHERE batch_id = ? AND finished_at IS NULL");
            for (const auto batch : lost_batches) {
                mark.bind(1, batch).run();
                marked += db.changes();
                mark.reset();
                finish.bind(1, batch).run();
                finish.reset();
            }
        },
        retry);
    return marked;
}

}  // namespace common
