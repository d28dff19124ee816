// spawn-loop: the baseline of bench/spawn-agents. Starts COUNT copies of a command with a
// bare posix_spawn loop (stdout and stderr to /dev/null, no pipes, no records), then waits
// for all of them. Exits 0 when every copy exited 0.
//
//   spawn-loop COUNT COMMAND [ARG...]

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
    children.reserve(static_cast<std::size_t>(count));
    for (long i = 0; i < count; ++i) {
        pid_t pid = 0;
        const int rc = posix_spawnp(&pid, argv[2], &actions, nullptr, argv + 2, environ);
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
    return failures == 0 ? 0 : 1;
}
