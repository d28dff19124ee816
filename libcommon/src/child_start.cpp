#include "child_start.hpp"

#include "common/error.hpp"
#include "common/process_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char** environ;

namespace common {
namespace child_start {
namespace {

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

}  // namespace

void close_fd(int& fd) noexcept
{
    if (fd >= 0) ::close(fd);
    fd = -1;
}

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

Pipe::Pipe()
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw Error(Exit::software, "cannot make a pipe: {}", std::strerror(errno));
    read = fds[0];
    write = fds[1];
}

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

std::optional<std::uint64_t> start_ticks_of(const Spawned& spawned)
{
    const auto tick = ns_per_tick();
    if (spawned.boot_before_ns / tick == spawned.boot_after_ns / tick)
        return static_cast<std::uint64_t>(spawned.boot_before_ns / tick);
    if (const auto stat = read_process_stat(spawned.pid)) return stat->start_ticks;
    return std::nullopt;
}

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
    spawned.before = std::chrono::steady_clock::now();
    spawned.boot_before_ns = boot_time_ns();
    spawned.error = ::posix_spawnp(&spawned.pid, argv.front(), setup.actions(), setup.attr(),
                                   argv.data(), envp.data());
    spawned.boot_after_ns = boot_time_ns();
    spawned.after = std::chrono::steady_clock::now();
    return spawned;
}

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

}  // namespace child_start

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

}  // namespace common
