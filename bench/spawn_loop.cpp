// spawn-loop: the baseline of bench/spawn-agents. Starts COUNT copies of a command with a
// bare posix_spawn loop (stdout and stderr to /dev/null, no pipes, no records), then waits
// for all of them. Exits 0 when every copy exited 0. Prints on stderr the p95 (nearest rank)
// of how long each posix_spawn call took, the same measure as spawn-agents' spawn latency
// (glibc's posix_spawn returns once the child has exec'd): "p95_spawn_us N".
//
//   spawn-loop COUNT COMMAND [ARG...]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fputs("usage: spawn-loop COUNT COMMAND [ARG...]\n", stderr);
        return 64;
    }
    const long count = std::strtol(argv[1], nullptr, 10);
    if (count <= 0) {
        std::fputs("spawn-loop: COUNT must be a positive number\n", stderr);
        return 64;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);

    std::vector<pid_t> children;
    std::vector<long long> latencies_us;
    children.reserve(static_cast<std::size_t>(count));
    for (long i = 0; i < count; ++i) {
        pid_t pid = 0;
        const auto before = std::chrono::steady_clock::now();
        const int rc = posix_spawnp(&pid, argv[2], &actions, nullptr, argv + 2, environ);
        latencies_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - before)
                                   .count());
        if (rc != 0) {
            std::fprintf(stderr, "spawn-loop: cannot run %s: %s\n", argv[2], std::strerror(rc));
            return 1;
        }
        children.push_back(pid);
    }
    posix_spawn_file_actions_destroy(&actions);
    int failures = 0;
    for (const pid_t pid : children) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
    }
    std::sort(latencies_us.begin(), latencies_us.end());
    const auto rank = (95 * latencies_us.size() + 99) / 100;
    std::fprintf(stderr, "p95_spawn_us %lld\n", latencies_us[rank - 1]);
    return failures == 0 ? 0 : 1;
}
