#include "backup.hpp"

#include "common/atomic_file.hpp"
#include "common/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/file.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace db_vacuum {

using common::Database;
using common::Error;
using common::Exit;

void ensure_backup_target_free(const std::filesystem::path& target)
{
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(target, ec)))
        throw Error(Exit::cant_create, "backup {} already exists; not overwriting it",
                    target.string());
    const auto parent = std::filesystem::absolute(target).parent_path();
    if (!std::filesystem::is_directory(parent, ec))
        throw Error(Exit::cant_create, "cannot write backup {}: no folder {}", target.string(),
                    parent.string());
    // EROFS tells a read-only file system apart even for root.
    if (::access(parent.c_str(), W_OK | X_OK) != 0)
        throw Error(Exit::cant_create, "cannot write backup {}: folder {}: {}", target.string(),
                    parent.string(), std::strerror(errno));
}

namespace {

void remove_with_journals(const std::filesystem::path& file)
{
    std::error_code ec;
    for (const auto* suffix : {"", "-journal", "-wal", "-shm"})
        std::filesystem::remove(file.string() + suffix, ec);
}

// The temporary an AtomicFile writes `target` under is ".TARGET.XXXXXX.tmp".
bool is_temporary_of(std::string_view name, const std::string& target_name)
{
    const auto prefix = "." + target_name + ".";
    constexpr std::string_view suffix = ".tmp";
    return name.size() == prefix.size() + 6 + suffix.size() && name.starts_with(prefix) &&
           name.ends_with(suffix);
}

// Removes the temporary copies (and their journals) that backups killed half-way left beside
// `target`. A running backup holds flock() on its temporary, which keeps it.
void remove_dead_temporaries(const std::filesystem::path& target)
{
    const auto target_name = target.filename().string();
    std::error_code ec;
    std::vector<std::filesystem::path> entries;
    for (const auto& entry : std::filesystem::directory_iterator(target.parent_path(), ec))
        entries.push_back(entry.path());
    for (const auto& path : entries) {
        const auto name = path.filename().string();
        if (is_temporary_of(name, target_name)) {
            const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0) continue;
            if (::flock(fd, LOCK_EX | LOCK_NB) == 0) remove_with_journals(path);
            ::close(fd);
            continue;
        }
        // A journal whose copy is gone: its run died between removing the two.
        for (const std::string_view suffix : {"-journal", "-wal", "-shm"}) {
            const std::string_view text(name);
            if (!text.ends_with(suffix)) continue;
            const auto copy = text.substr(0, text.size() - suffix.size());
            if (is_temporary_of(copy, target_name) &&
                !std::filesystem::exists(path.parent_path() / copy, ec))
                std::filesystem::remove(path, ec);
        }
    }
}

}  // namespace

// The copy is written under a temporary name of its own (common::AtomicFile), flushed, and
// only then put in place, never over a file that appeared meanwhile: a run killed half-way
// leaves no half-made backup at `target`, and two runs never share a file. VACUUM INTO gets
// the absolute name, which SQLite cannot take for a URI.
void take_backup(Database& db, const std::filesystem::path& backup,
                 const common::RetryPolicy& retry)
{
    const auto target = std::filesystem::absolute(backup);
    ensure_backup_target_free(target);
    remove_dead_temporaries(target);
    common::AtomicFile copy(target, 0600, common::Existing::refuse);
    // Held until commit() closes the descriptor: tells a later run that this copy is alive.
    ::flock(copy.fd(), LOCK_EX);
    const auto temporary = copy.temporary_path();
    try {
        common::retry_busy(
            [&] {
                auto statement = db.prepare("VACUUM INTO ?");
                statement.bind(1, common::sqlite_file_name(temporary)).run();
            },
            retry);
        copy.commit();
    } catch (...) {
        remove_with_journals(temporary);
        throw;
    }
}

}  // namespace db_vacuum
