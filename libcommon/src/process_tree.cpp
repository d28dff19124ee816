#include "common/process_tree.hpp"

#include "common/error.hpp"
#include "common/files.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <dirent.h>
#include <map>
#include <set>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace common {
namespace {

struct ProcEntry {
    pid_t pid = 0;
    pid_t parent = 0;
    std::uint64_t start_ticks = 0;
    bool zombie = false;
};

// The /proc entry of `pid`, as runs.hpp reads it.
std::optional<ProcEntry> read_entry(pid_t pid)
{
    const auto stat = read_process_stat(pid);
    if (!stat) return std::nullopt;
    return ProcEntry{pid, stat->parent, stat->start_ticks, stat->zombie};
}

// Every process /proc lists, by parent.
std::multimap<pid_t, ProcEntry> processes_by_parent()
{
    std::multimap<pid_t, ProcEntry> children;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return children;
    while (const dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        if (auto read = read_entry(static_cast<pid_t>(pid))) children.emplace(read->parent, *read);
    }
    ::closedir(proc);
    return children;
}

// Below `root`, zombies included, parents before children.
std::vector<ProcEntry> tree_below(pid_t root)
{
    const auto children = processes_by_parent();
    std::vector<ProcEntry> found;
    std::vector<pid_t> parents{root};
    for (std::size_t i = 0; i < parents.size(); ++i) {
        const auto [first, last] = children.equal_range(parents[i]);
        for (auto it = first; it != last; ++it) {
            found.push_back(it->second);
            parents.push_back(it->second.pid);
        }
    }
    return found;
}

// Whether any process, live or a zombie, has this one as its parent. Every process below this
// one descends from one of its children, so without children nothing is below it; the look
// costs one system call where reading /proc costs one per process on the machine.
bool has_children() noexcept
{
    siginfo_t info{};
    return ::waitid(P_ALL, 0, &info, WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT) == 0 ||
           errno != ECHILD;
}

}  // namespace

bool become_subreaper() noexcept
{
    return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}

std::vector<ProcessIdentity> descendants_of(pid_t root)
{
    std::vector<ProcessIdentity> live;
    for (const auto& entry : tree_below(root))
        if (!entry.zombie) live.push_back({entry.pid, entry.start_ticks});
    return live;
}

std::vector<std::pair<ProcessIdentity, std::string>> descendants_with(pid_t root,
                                                                      std::string_view name)
{
    const auto prefix = std::string(name) + "=";
    std::vector<std::pair<ProcessIdentity, std::string>> found;
    for (const auto& process : descendants_of(root)) {
        std::string environment;
        try {
            environment = read_file("/proc/" + std::to_string(process.pid) + "/environ");
        } catch (const Error&) {
            continue;  // gone, or not ours to read
        }
        // Entries end with a NUL.
        for (std::size_t start = 0; start < environment.size();) {
            auto end = environment.find('\0', start);
            if (end == std::string::npos) end = environment.size();
            const auto entry = std::string_view(environment).substr(start, end - start);
            if (entry.starts_with(prefix)) {
                found.emplace_back(process, std::string(entry.substr(prefix.size())));
                break;
            }
            start = end + 1;
        }
    }
    return found;
}

void signal_processes(std::span<const ProcessIdentity> processes, int signal) noexcept
{
    for (const auto& process : processes) {
        try {
            const auto now = read_process_stat(process.pid);
            if (now && !now->zombie && now->start_ticks == process.start_ticks)
                ::kill(process.pid, signal);
        } catch (...) {
            // Not readable any more: gone, or not ours to signal.
        }
    }
}

std::size_t end_descendants()
{
    using namespace std::chrono_literals;
    const pid_t self = ::getpid();
    std::set<pid_t> killed;
    // A SIGKILLed process is gone within milliseconds unless the kernel holds it in an
    // uninterruptible wait; such a one is left rather than waited for without end.
    for (int round = 0; round < 500 && has_children(); ++round) {
        const auto below = tree_below(self);
        if (below.empty()) break;
        for (const auto& entry : below) {
            if (!entry.zombie && ::kill(entry.pid, SIGKILL) == 0) killed.insert(entry.pid);
            if (entry.parent == self) {
                int status = 0;
                ::waitpid(entry.pid, &status, WNOHANG);
            }
        }
        std::this_thread::sleep_for(5ms);
    }
    return killed.size();
}

}  // namespace common
