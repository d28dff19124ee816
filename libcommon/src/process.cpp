#include "common/process.hpp"

#include "child_start.hpp"

#include "common/error.hpp"
#include "common/process_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fmt/format.h>
#include <poll.h>
#include <span>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

namespace common {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// How much is read or written per descriptor and turn, so that one busy child cannot starve
// the others.
constexpr std::size_t chunk_bytes = 64 * 1024;

// Without pidfds (kernels before 5.3), exits are found by asking this often.
constexpr std::chrono::milliseconds reap_interval{10};

std::int64_t micros(SteadyClock::duration duration)
{
    return std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
}

std::int64_t timeval_us(const timeval& value)
{
    return static_cast<std::int64_t>(value.tv_sec) * 1'000'000 + value.tv_usec;
}

}  // namespace

using namespace child_start;

struct ProcessSet::Child {
    std::size_t id = 0;
    pid_t pid = -1;
    int pidfd = -1;
    int in = -1;
    int out = -1;
    int err = -1;
    std::string input;
    std::size_t written = 0;
    std::function<void(std::string_view)> err_sink;  // where stderr goes, when not kept
    bool exited = false;                             // its pidfd said so
    SteadyTime started;
    std::optional<SteadyTime> terminate_at;  // the timeout
    std::optional<SteadyTime> kill_at;       // the end of the grace period
    FinishedChild result;

    ~Child()
    {
        close_fd(pidfd);
        close_fd(in);
        close_fd(out);
        close_fd(err);
    }

    // Reads what one descriptor has, one chunk or (after the child ended) what the pipe
    // holds, into `into` or, when there is one, the sink; closes it at end of file or on an
    // error. A grandchild that keeps writing cannot keep the final read going: the child's own
    // output is at most a pipe's capacity.
    void read_from(int& fd, std::string& into, const std::function<void(std::string_view)>& sink,
                   bool until_empty)
    {
        char buffer[chunk_bytes];
        for (int chunks = 0; fd >= 0 && chunks < 64; ++chunks) {
            const auto n = ::read(fd, buffer, sizeof buffer);
            if (n > 0) {
                const std::string_view chunk(buffer, static_cast<std::size_t>(n));
                if (sink)
                    sink(chunk);
                else
                    into.append(chunk);
                if (!until_empty) return;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            close_fd(fd);
        }
    }

    void feed_input()
    {
        const auto left = input.size() - written;
        const auto n = ::write(in, input.data() + written, std::min(left, chunk_bytes));
        if (n > 0) written += static_cast<std::size_t>(n);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n < 0) result.input_complete = false;  // EPIPE: it stopped reading
        if (n < 0 || written == input.size()) {
            close_fd(in);
            input.clear();
            input.shrink_to_fit();
        }
    }

    // The group, the child itself (which may have left it) and every process below it,
    // including those that left for a group or session of their own. Those found are kept, so
    // that the SIGKILL after the grace reaches them once their parent has gone.
    void signal_all(int signal)
    {
        if (pid <= 0) return;
        for (const auto& process : descendants_of(pid))
            if (std::find_if(tree.begin(), tree.end(), [&](const auto& known) {
                    return known.pid == process.pid;
                }) == tree.end())
                tree.push_back(process);
        ::kill(-pid, signal);
        ::kill(pid, signal);
        signal_processes(tree, signal);
    }

    std::vector<ProcessIdentity> tree;  // found below it when it was signalled
};

ProcessSet::ProcessSet(std::chrono::milliseconds kill_grace) : m_kill_grace(kill_grace)
{
    std::signal(SIGPIPE, SIG_IGN);
}

ProcessSet::~ProcessSet()
{
    for (const auto& group : m_lingering) {
        ::kill(-group.group, SIGKILL);
        signal_processes(group.tree, SIGKILL);
    }
    for (const auto& child : m_children) {
        child->signal_all(SIGKILL);
        int status = 0;
        while (::waitpid(child->pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    for (const int fd : m_orphan_pipes)
        ::close(fd);
}

std::size_t ProcessSet::running() const
{
    return static_cast<std::size_t>(std::count_if(
        m_children.begin(), m_children.end(), [](const auto& child) { return child->pid > 0; }));
}

SpawnResult ProcessSet::start(const Command& command)
{
    if (auto refused = refusal_of(command)) return *refused;
    std::optional<Pipe> out;
    std::optional<Pipe> err;
    if (command.stdout_fd < 0) out.emplace();
    if (command.stderr_fd < 0) err.emplace();
    std::optional<Pipe> in;
    if (command.input) in.emplace();
    const auto marker = fmt::format("{}:{}", ::getpid(), m_next_id);
    const auto marker_entry = fmt::format("{}={}", supervisor_variable, marker);
    const auto spawned = spawn_with(command, environment_of(command, marker_entry), in, out, err);

    SpawnResult result;
    if (spawned.error != 0) {
        result.error = spawned.error;
        result.message =
            fmt::format("cannot run {}: {}", command.argv.front(), std::strerror(spawned.error));
        return result;
    }

    auto child = std::make_unique<Child>();
    child->id = m_next_id++;
    child->pid = spawned.pid;
    child->started = spawned.before;
    child->pidfd = open_pidfd(spawned.pid);
    if (out) {
        child->out = out->release_read();
        set_nonblocking(child->out);
    }
    if (err) {
        child->err = err->release_read();
        set_nonblocking(child->err);
        child->err_sink = command.stderr_sink;
    }
    if (in) {
        child->in = in->release_write();
        set_nonblocking(child->in);
        child->input = *command.input;
        if (child->input.empty()) close_fd(child->in);
    }
    if (command.timeout) {
        child->terminate_at = spawned.before + *command.timeout;
        m_left_behind.push_back({marker, child->terminate_at, *child->terminate_at + m_kill_grace});
    }
    child->result.id = child->id;
    child->result.pid = spawned.pid;

    result.id = child->id;
    result.pid = spawned.pid;
    result.latency_us = micros(spawned.after - spawned.before);
    result.start_ticks = start_ticks_of(spawned);
    m_children.push_back(std::move(child));
    return result;
}

void ProcessSet::cancel_all(int signal)
{
    const auto now = SteadyClock::now();
    for (const auto& child : m_children) {
        child->signal_all(signal);
        child->result.ending = Ending::cancelled;
        child->terminate_at.reset();
        if (!child->kill_at) child->kill_at = now + m_kill_grace;
    }
}

bool ProcessSet::reap(Child& child, WaitResult& result)
{
    int status = 0;
    rusage usage{};
    const pid_t done = ::wait4(child.pid, &status, WNOHANG, &usage);
    if (done != child.pid) return false;
    auto& finished = child.result;
    finished.run_time_us = micros(SteadyClock::now() - child.started);
    finished.cpu_time_us = timeval_us(usage.ru_utime) + timeval_us(usage.ru_stime);
    finished.max_rss_kb = usage.ru_maxrss;
    if (WIFEXITED(status)) finished.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        finished.signal = WTERMSIG(status);
        if (finished.ending == Ending::exited) finished.ending = Ending::signaled;
    }
    // What it wrote before it ended is in the pipes; a grandchild that keeps them open
    // does not hold the batch, and what it writes later is dropped.
    child.read_from(child.out, finished.out, {}, true);
    child.read_from(child.err, finished.err, child.err_sink, true);
    for (int* pipe : {&child.out, &child.err})
        if (*pipe >= 0) m_orphan_pipes.push_back(std::exchange(*pipe, -1));
    if (child.in >= 0 && child.written < child.input.size()) finished.input_complete = false;
    if (child.kill_at) m_lingering.push_back({child.pid, *child.kill_at, child.tree});
    child.pid = -1;
    result.finished.push_back(std::move(finished));
    return true;
}

std::optional<ProcessSet::SteadyTime>
ProcessSet::send_due_signals(SteadyTime now, std::optional<SteadyTime> deadline)
{
    std::optional<SteadyTime> next_timer = deadline;
    const auto consider = [&](SteadyTime when) {
        if (!next_timer || when < *next_timer) next_timer = when;
    };
    for (const auto& child : m_children) {
        if (child->terminate_at && now >= *child->terminate_at) {
            child->signal_all(SIGTERM);
            child->result.ending = Ending::timed_out;
            child->terminate_at.reset();
            child->kill_at = now + m_kill_grace;
        }
        if (child->kill_at && now >= *child->kill_at) {
            child->signal_all(SIGKILL);
            child->kill_at.reset();
        }
        if (child->terminate_at) consider(*child->terminate_at);
        if (child->kill_at) consider(*child->kill_at);
        if (child->pidfd < 0) consider(now + reap_interval);
    }
    std::erase_if(m_lingering, [&](const Lingering& group) {
        if (now < group.kill_at) return false;
        ::kill(-group.group, SIGKILL);
        signal_processes(group.tree, SIGKILL);
        return true;
    });
    for (const auto& group : m_lingering)
        consider(group.kill_at);
    if (const auto left_behind = end_left_behind(now)) consider(*left_behind);
    return next_timer;
}

std::optional<ProcessSet::SteadyTime> ProcessSet::end_left_behind(SteadyTime now)
{
    std::optional<SteadyTime> next;
    // Which marks are due, and the signal each gets.
    std::map<std::string, int> due;
    std::erase_if(m_left_behind, [&](LeftBehind& left) {
        const bool kill = now >= left.kill_at;
        if (kill || (left.terminate_at && now >= *left.terminate_at)) {
            due[left.marker] = kill ? SIGKILL : SIGTERM;
            left.terminate_at.reset();
        }
        if (kill) return true;
        const auto when = left.terminate_at.value_or(left.kill_at);
        if (!next || when < *next) next = when;
        return false;
    });
    // One look at the processes below this one, however many agents are due together.
    if (!due.empty())
        for (const auto& [process, value] : descendants_with(::getpid(), supervisor_variable))
            if (const auto found = due.find(value); found != due.end())
                signal_processes(std::span(&process, 1), found->second);
    return next;
}

bool ProcessSet::poll_once(SteadyTime now, std::optional<SteadyTime> next_timer,
                           SignalWatch* signals, WaitResult& result)
{
    std::vector<pollfd> fds;
    // For each poll entry, the child and what it is: 0 stdout, 1 stderr, 2 stdin, 3 pidfd.
    std::vector<std::pair<Child*, int>> owners;
    const auto watch = [&](Child* child, int fd, short events, int what) {
        if (fd < 0) return;
        fds.push_back({fd, events, 0});
        owners.emplace_back(child, what);
    };
    if (signals) watch(nullptr, signals->fd(), POLLIN, 4);
    for (const auto& child : m_children) {
        watch(child.get(), child->out, POLLIN, 0);
        watch(child.get(), child->err, POLLIN, 1);
        watch(child.get(), child->in, POLLOUT, 2);
        watch(child.get(), child->pidfd, POLLIN, 3);
    }
    const bool children_to_watch = !fds.empty();
    const auto orphans_from = fds.size();
    for (const int fd : m_orphan_pipes)
        fds.push_back({fd, POLLIN, 0});
    int timeout_ms = -1;
    if (next_timer) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(*next_timer - now).count();
        timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left, 0, 60'000));
    }
    if (!children_to_watch && timeout_ms < 0) return false;  // nothing to wait for
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR)
        throw Error(Exit::software, "poll failed: {}", std::strerror(errno));

    if (ready > 0) drain_orphan_pipes(std::span(fds).subspan(orphans_from));
    for (std::size_t i = 0; ready > 0 && i < orphans_from; ++i) {
        if (fds[i].revents == 0) continue;
        auto* child = owners[i].first;
        switch (owners[i].second) {
        case 0: child->read_from(child->out, child->result.out, {}, false); break;
        case 1: child->read_from(child->err, child->result.err, child->err_sink, false); break;
        case 2: child->feed_input(); break;
        case 4: result.signal = signals->take(); break;
        default: child->exited = true; break;
        }
    }
    return true;
}

void ProcessSet::drain_orphan_pipes(std::span<const pollfd> polled)
{
    char buffer[chunk_bytes];
    for (const auto& entry : polled) {
        if (entry.revents == 0) continue;
        const auto n = ::read(entry.fd, buffer, sizeof buffer);
        if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)))
            continue;
        ::close(entry.fd);
        std::erase(m_orphan_pipes, entry.fd);
    }
}

WaitResult ProcessSet::wait(std::optional<std::chrono::milliseconds> max_wait, SignalWatch* signals)
{
    WaitResult result;
    const auto deadline =
        max_wait ? std::optional<SteadyTime>(SteadyClock::now() + *max_wait) : std::nullopt;
    bool looked = false;
    for (;;) {
        const auto now = SteadyClock::now();
        const auto next_timer = send_due_signals(now, deadline);
        if (!result.finished.empty() || result.signal) break;
        // A wait of zero still looks once.
        if (deadline && now >= *deadline && looked) break;
        if (!poll_once(now, next_timer, signals, result)) break;
        looked = true;
        for (auto& child : m_children)
            if (child->exited || child->pidfd < 0) reap(*child, result);
        std::erase_if(m_children, [](const auto& child) { return child->pid <= 0; });
    }
    return result;
}

}  // namespace common
