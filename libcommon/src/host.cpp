#include "common/host.hpp"

#include <fstream>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace common {

std::filesystem::path sqlite_temp_dir(const EnvLookup& env)
{
    std::vector<std::string> candidates;
    for (const auto* variable : {"SQLITE_TMPDIR", "TMPDIR"})
        if (auto dir = env(variable)) candidates.push_back(*dir);
    candidates.insert(candidates.end(), {"/var/tmp", "/usr/tmp", "/tmp"});
    std::error_code ec;
    for (const auto& dir : candidates)
        if (std::filesystem::is_directory(dir, ec) && ::access(dir.c_str(), W_OK | X_OK) == 0)
            return dir;
    return ".";
}

std::optional<std::uint64_t> available_memory()
{
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    std::uint64_t kib = 0;
    std::string unit;
    while (meminfo >> key >> kib >> unit)
        if (key == "MemAvailable:") return kib * 1024;
    return std::nullopt;
}

bool stdout_is_terminal()
{
    return ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace common
