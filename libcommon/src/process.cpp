#include "common/process.hpp"

#include "common/error.hpp"
#include "common/process_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <span>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace common {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// How much is read or written per descriptor and turn, so that one busy child cannot starve
// the others.
constexpr std::size_t chunk_bytes = 64 * 1024;

// Without pidfds (kernels before 5.3), exits are found by asking this often.
constexpr std::chrono::milliseconds reap_interval{10};

void close_fd(int& fd) noexcept
{
    if (fd >= 0) ::close(fd);
    fd = -1;
}

struct Pipe {
    int read = -1;
    int write = -1;

    Pipe()
    {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0)
            throw Error(Exit::software, "cannot make a pipe: {}", std::strerror(errno));
        read = fds[0];
        write = fds[1];
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe()
    {
        close_fd(read);
        close_fd(write);
    }
    int release_read() { return std::exchange(read, -1); }
    int release_write() { return std::exchange(write, -1); }
};

void set_nonblocking(int fd)
{
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int open_pidfd(pid_t pid) noexcept
{
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    static_cast<void>(pid);
    return -1;
#endif
}

std::int64_t micros(SteadyClock::duration duration)
{
    return std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
}

std::int64_t timeval_us(const timeval& value)
{
    return static_cast<std::int64_t>(value.tv_sec) * 1'000'000 + value.tv_usec;
}

// Owns the attributes and file actions of one posix_spawn call.
class SpawnSetup {
public:
    SpawnSetup()
    {
        posix_spawnattr_init(&m_attr);
        posix_spawn_file_actions_init(&m_actions);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
    ~SpawnSetup()
    {
        posix_spawnattr_destroy(&m_attr);
        posix_spawn_file_actions_destroy(&m_actions);
    }

    // Own process group (so that a group kill reaches grandchildren and a terminal's ^C does
    // not), every signal at its default (this process ignores SIGPIPE), nothing blocked.
    void isolate_signals()
    {
        sigset_t all;
        sigset_t none;
        sigfillset(&all);
        sigemptyset(&none);
        posix_spawnattr_setsigdefault(&m_attr, &all);
        posix_spawnattr_setsigmask(&m_attr, &none);
        posix_spawnattr_setpgroup(&m_attr, 0);
        posix_spawnattr_setflags(&m_attr,
                                 static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                    POSIX_SPAWN_SETSIGMASK));
    }

    void dup_to(int fd, int target) { posix_spawn_file_actions_adddup2(&m_actions, fd, target); }
    void null_stdin()
    {
        posix_spawn_file_actions_addopen(&m_actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    void change_dir(const std::filesystem::path& dir)
    {
        posix_spawn_file_actions_addchdir_np(&m_actions, dir.c_str());
    }

    const posix_spawnattr_t* attr() const { return &m_attr; }
    const posix_spawn_file_actions_t* actions() const { return &m_actions; }

private:
    posix_spawnattr_t m_attr;
    posix_spawn_file_actions_t m_actions;
};

// Why `command` cannot start, when that is known without trying.
std::optional<SpawnResult> refusal_of(const Command& command)
{
    SpawnResult result;
    if (command.argv.empty() || command.argv.front().empty()) {
        result.error = ENOENT;
        result.message = "empty command";
        return result;
    }
    if (command.cwd) {
        std::error_code ec;
        if (!std::filesystem::is_directory(*command.cwd, ec)) {
            result.error = ec ? ec.value() : ENOTDIR;
            result.message = fmt::format("cannot run {} in {}: {}", command.argv.front(),
                                         command.cwd->string(), std::strerror(result.error));
            return result;
        }
    }
    return std::nullopt;
}

// Nanoseconds on CLOCK_BOOTTIME, the clock the kernel stamps a new process's start with.
std::int64_t boot_time_ns() noexcept
{
    timespec now{};
    ::clock_gettime(CLOCK_BOOTTIME, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// The length of a clock tick of /proc/PID/stat's start time, in nanoseconds.
std::int64_t ns_per_tick() noexcept
{
    static const std::int64_t length = [] {
        const long ticks = ::sysconf(_SC_CLK_TCK);
        return 1'000'000'000 / (ticks > 0 ? ticks : 100);
    }();
    return length;
}

struct Spawned {
    int error = 0;  // posix_spawnp's
    pid_t pid = -1;
    SteadyTime before;  // just before posix_spawnp
    SteadyTime after;   // once it returned: the child had exec'd
    // CLOCK_BOOTTIME around the call, between which the child was made.
    std::int64_t boot_before_ns = 0;
    std::int64_t boot_after_ns = 0;
};

// The start time of the child made between `spawned`'s two readings of CLOCK_BOOTTIME, in
// /proc's clock ticks: the tick both fall in when they fall in the same (nearly always, a
// start takes well under a tick), else read from /proc/PID/stat.
std::optional<std::uint64_t> start_ticks_of(const Spawned& spawned)
{
    const auto tick = ns_per_tick();
    if (spawned.boot_before_ns / tick == spawned.boot_after_ns / tick)
        return static_cast<std::uint64_t>(spawned.boot_before_ns / tick);
    if (const auto stat = read_process_stat(spawned.pid)) return stat->start_ticks;
    return std::nullopt;
}

constexpr std::string_view supervisor_variable = "SPEC_HYGIENE_SUPERVISOR";

// Starts `command` with the pipes given as its standard streams (the command's own
// descriptors, or /dev/null for stdin, where none is). glibc's posix_spawn returns once the
// child has exec'd (or failed to, which it reports).
Spawned spawn_with(const Command& command, std::vector<char*> envp, const std::optional<Pipe>& in,
                   const std::optional<Pipe>& out, const std::optional<Pipe>& err)
{
    SpawnSetup setup;
    setup.isolate_signals();
    if (in)
        setup.dup_to(in->read, STDIN_FILENO);
    else
        setup.null_stdin();
    setup.dup_to(out ? out->write : command.stdout_fd, STDOUT_FILENO);
    setup.dup_to(err ? err->write : command.stderr_fd, STDERR_FILENO);
    if (command.cwd) setup.change_dir(*command.cwd);

    std::vector<char*> argv;
    for (const auto& arg : command.argv)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);

    Spawned spawned;
    spawned.before = SteadyClock::now();
    spawned.boot_before_ns = boot_time_ns();
    spawned.error = ::posix_spawnp(&spawned.pid, argv.front(), setup.actions(), setup.attr(),
                                   argv.data(), envp.data());
    spawned.boot_after_ns = boot_time_ns();
    spawned.after = SteadyClock::now();
    return spawned;
}

// The child's environment: the command's (or this process's), its supervisor entries replaced
// by `marker_entry`. Points into those strings and `marker_entry`: nothing is copied.
std::vector<char*> environment_of(const Command& command, const std::string& marker_entry)
{
    const auto prefix = std::string_view(marker_entry).substr(0, supervisor_variable.size() + 1);
    std::vector<char*> envp;
    const auto add = [&](const char* entry) {
        if (!std::string_view(entry).starts_with(prefix)) envp.push_back(const_cast<char*>(entry));
    };
    if (command.environment)
        for (const auto& entry : *command.environment)
            add(entry.c_str());
    else
        for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
            add(*entry);
    envp.push_back(const_cast<char*>(marker_entry.c_str()));
    envp.push_back(nullptr);
    return envp;
}

}  // namespace

std::size_t make_room_for_children(std::size_t wanted, std::size_t reserve)
{
    // A running child holds its stdout and stderr pipes, its pidfd and its stdin pipe; a
    // start briefly needs the other ends too.
    constexpr rlim_t per_child = 4;
    constexpr rlim_t starting = 5;
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1;
    const auto kept = static_cast<rlim_t>(reserve) + starting;
    const auto most = (RLIM_INFINITY - kept) / per_child;
    const auto needed = kept + per_child * std::min(static_cast<rlim_t>(wanted), most);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
        rlimit raised = limit;
        raised.rlim_cur =
            limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed)
        return std::max<std::size_t>(wanted, 1);
    // Under a low hard limit, half the reserve will do: what a process keeps open for itself
    // (a database, a few folders, the files being written) is far below it.
    const auto low_kept =
        std::min(kept, std::max<rlim_t>(reserve / 2, limit.rlim_cur / 4) + starting);
    if (limit.rlim_cur < low_kept + per_child) return 0;
    return std::min(std::max<std::size_t>(wanted, 1),
                    static_cast<std::size_t>((limit.rlim_cur - low_kept) / per_child));
}

std::vector<std::string> environment_with(const std::map<std::string, std::string>& overrides)
{
    std::vector<std::string> entries;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const auto name = text.substr(0, text.find('='));
        if (overrides.find(std::string(name)) == overrides.end()) entries.emplace_back(text);
    }
    for (const auto& [name, value] : overrides)
        entries.push_back(name + "=" + value);
    return entries;
}

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
