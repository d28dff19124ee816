#pragma once
// What the tools learn about the machine they run on, asked once by main() and passed down,
// so that a tool's core never reads the real environment and tests choose their own.

#include "common/paths.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>

namespace common {

// The folder SQLite writes its temporary files (VACUUM's copy) to: the first writable folder
// of $SQLITE_TMPDIR, $TMPDIR, /var/tmp, /usr/tmp, /tmp, as SQLite's unix VFS looks, else ".".
std::filesystem::path sqlite_temp_dir(const EnvLookup& env);

// MemAvailable of /proc/meminfo in bytes: what can be used without swapping; nullopt when
// it cannot be read.
std::optional<std::uint64_t> available_memory();

// True when stdout is a terminal (tools then default to output for people).
bool stdout_is_terminal();

}  // namespace common
