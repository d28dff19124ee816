#include "common/runs.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace common {

// Fields 3 (state), 4 (ppid) and 22 (starttime) of /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses, so parsing starts after the last ')'.
std::optional<ProcessStat> read_process_stat(pid_t pid)
{
    // Read with one open and one read into the stack: a spawn reads it for every agent.
    std::array<char, 64> path{};
    const auto end = fmt::format_to_n(path.data(), path.size() - 1, "/proc/{}/stat", pid).out;
    *end = '\0';
    const int fd = ::open(path.data(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::array<char, 1024> buffer{};
    ssize_t got = 0;
    do {
        got = ::read(fd, buffer.data(), buffer.size());
    } while (got < 0 && errno == EINTR);
    ::close(fd);
    if (got <= 0) return std::nullopt;
    const std::string_view line(buffer.data(), static_cast<std::size_t>(got));
    const auto close = line.rfind(')');
    if (close == std::string_view::npos || close + 2 > line.size()) return std::nullopt;
    // Fields 3 to 22, separated by single spaces.
    std::array<std::string_view, 20> fields{};
    std::size_t count = 0;
    for (std::size_t at = close + 2; at < line.size() && count < fields.size(); ++count) {
        const auto space = line.find_first_of(" \n", at);
        const auto stop = space == std::string_view::npos ? line.size() : space;
        fields[count] = line.substr(at, stop - at);
        at = stop + 1;
    }
    if (count < fields.size()) return std::nullopt;
    long parent = 0;
    std::uint64_t start = 0;
    const auto number = [](std::string_view text, auto& value) {
        const auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        return error == std::errc() && rest == text.data() + text.size() && !text.empty();
    };
    if (!number(fields[1], parent) || !number(fields[19], start)) return std::nullopt;
    return ProcessStat{start, fields[0] == "Z", static_cast<pid_t>(parent)};
}

ProcessIdentity current_process()
{
    const pid_t pid = getpid();
    const auto stat = read_process_stat(pid);
    return {pid, stat ? stat->start_ticks : 0};
}

Liveness process_liveness(const ProcessIdentity& process,
                          const std::function<std::optional<ProcessStat>(pid_t)>& read_stat)
{
    // kill() with 0 or a negative pid would ask about process groups.
    if (process.pid <= 0) return Liveness::unknown;
    if (::kill(process.pid, 0) != 0) {
        if (errno == ESRCH) return Liveness::gone;
        if (errno != EPERM) return Liveness::unknown;
    }
    // The pid exists. Whether it is still the recorded process only /proc can tell; without
    // it (or without a recorded start time), it counts as alive.
    const auto stat = read_stat(process.pid);
    if (!stat) return Liveness::alive;
    if (process.start_ticks != 0 && stat->start_ticks != process.start_ticks) return Liveness::gone;
    return stat->zombie ? Liveness::gone : Liveness::alive;
}

namespace {

// What is left of the lost runs' agents is killed: the agent and its group, only while the
// pid still has the agent's recorded start time (never a reused pid).
void end_lost_agents(const Database& db, const std::vector<std::int64_t>& batches)
{
    if (db.query_int("SELECT count(*) FROM pragma_table_info('agent_executions') "
                     "WHERE name = 'pid_start'") == 0)
        return;
    auto agents = db.prepare("SELECT pid, pid_start FROM agent_executions WHERE batch_id = ? "
                             "AND outcome = 'lost' AND pid IS NOT NULL AND pid_start IS NOT NULL");
    for (const auto batch : batches) {
        agents.bind(1, batch);
        while (agents.step()) {
            const ProcessIdentity agent{static_cast<pid_t>(agents.column_int(0)),
                                        static_cast<std::uint64_t>(agents.column_int(1))};
            if (agent.pid <= 1 || agent.start_ticks == 0) continue;
            if (process_liveness(agent) != Liveness::alive) continue;
            ::kill(-agent.pid, SIGKILL);
            ::kill(agent.pid, SIGKILL);
        }
        agents.reset();
    }
}

}  // namespace

int mark_lost_runs(Database& db, const RetryPolicy& retry, const LivenessProbe& liveness)
{
    // Look first without a write lock: almost always nothing is unfinished.
    std::vector<std::int64_t> orphans;
    auto owners = db.prepare(
        "SELECT batch_id, owner_pid, owner_start FROM spawn_batches WHERE finished_at IS NULL");
    while (owners.step()) {
        const ProcessIdentity owner{
            static_cast<pid_t>(owners.column_int(1)),
            static_cast<std::uint64_t>(owners.column_int_optional(2).value_or(0))};
        if (liveness(owner) == Liveness::gone) orphans.push_back(owners.column_int(0));
    }
    if (orphans.empty()) return 0;

    const int lost = write_transaction(
        db,
        [&] {
            int marked = 0;
            auto mark = db.prepare(
                "UPDATE agent_executions SET outcome = 'lost', completed_at = datetime('now') "
                "WHERE batch_id = ? AND outcome = 'running'");
            // What the owner would have written last; wall times stay NULL: never measured.
            auto finish = db.prepare(
                "UPDATE spawn_batches SET finished_at = datetime('now'), "
                "successes = coalesce(successes, (SELECT count(*) FROM agent_executions e "
                "WHERE e.batch_id = spawn_batches.batch_id AND e.outcome = 'success')) "
                "WHERE batch_id = ? AND finished_at IS NULL");
            for (const auto batch : orphans) {
                mark.bind(1, batch).run();
                marked += db.changes();
                mark.reset();
                finish.bind(1, batch).run();
                finish.reset();
            }
            return marked;
        },
        retry);
    end_lost_agents(db, orphans);
    return lost;
}

}  // namespace common
