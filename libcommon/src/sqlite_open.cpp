// Opening a database: which files are opened and how (literal paths, private modes for a new
// file, the immutable fallback for a read-only one), and the errors an open can end in.
#include "common/sqlite.hpp"

#include "sqlite_connection.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace common {

std::string sqlite_file_name(const std::filesystem::path& path)
{
    // Debian builds SQLite with SQLITE_USE_URI: "file:x" would be a URI and ":memory:" is
    // never a file. Neither reading applies to a name that starts with "./" or "/".
    if (path.is_relative() && !path.empty()) return (std::filesystem::path(".") / path).string();
    return path.string();
}

std::string immutable_uri(const std::filesystem::path& path)
{
    std::error_code ec;
    auto absolute = std::filesystem::absolute(path, ec);
    if (ec) absolute = path;
    std::string uri = "file:";
    for (const char c : absolute.string()) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
            uri += c;
        else
            uri += fmt::format("%{:02X}", byte);
    }
    return uri + "?immutable=1";
}

namespace {

std::string too_long(const std::string& shown, std::size_t length)
{
    return fmt::format("cannot open {}: its full path is {} bytes long; SQLite opens paths of at "
                       "most {} bytes",
                       shown, length, sqlite_max_path_length);
}

// Switching a rollback-journal file to WAL takes an exclusive lock that SQLite does not wait
// for with the busy handler: wait here instead, as long as a write would wait (the busy
// timeout for each of SPEC.md's attempts, and the back-off between them), and no longer once
// `stop` is set.
std::string switch_to_wal(const Database& db, int busy_timeout_ms, const std::atomic<bool>* stop)
{
    const RetryPolicy policy;
    auto patience = std::chrono::milliseconds(busy_timeout_ms) * policy.attempts;
    double backoff_ms = static_cast<double>(policy.initial.count());
    for (int attempt = 1; attempt < policy.attempts; ++attempt, backoff_ms *= policy.factor)
        patience += std::chrono::milliseconds(std::llround(backoff_ms));
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
        try {
            return db.query_text("PRAGMA journal_mode=WAL");
        } catch (const SqliteError& error) {
            if (!error.is_busy() || (stop && stop->load())) throw;
            if (std::chrono::steady_clock::now() >= deadline)
                throw Error(Exit::temp_fail, "database is busy, gave up after {} attempts: {}",
                            policy.attempts, error.what());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace

Database Database::connect(const std::filesystem::path& path, int flags, int busy_timeout_ms,
                           const std::atomic<bool>* stop)
{
    sqlite3* handle = nullptr;
    const auto name = sqlite_file_name(path);
    const int rc = sqlite3_open_v2(name.c_str(), &handle, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    // Owned from here on, so that a failed open is closed too.
    Database db(handle, path, busy_timeout_ms);
    if (rc != SQLITE_OK) db.fail_open(rc);
    sqlite3_extended_result_codes(handle, 1);
    sqlite3_busy_timeout(handle, busy_timeout_ms);
    if (stop) db.stop_waiting_when(*stop);
    // Reading the schema proves the file is a database before anything is written to it.
    try {
        db.query_int("SELECT count(*) FROM sqlite_schema");
    } catch (const SqliteError& error) {
        db.fail_open(error.result_code());
    }
    return db;
}

Database Database::connect_immutable(const std::filesystem::path& path, int busy_timeout_ms)
{
    sqlite3* handle = nullptr;
    const auto uri = immutable_uri(path);
    const int rc =
        sqlite3_open_v2(uri.c_str(), &handle,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
    Database db(handle, path, busy_timeout_ms);
    if (rc != SQLITE_OK) db.fail_open(rc);
    db.m_connection->immutable = true;
    sqlite3_extended_result_codes(handle, 1);
    try {
        db.query_int("SELECT count(*) FROM sqlite_schema");
    } catch (const SqliteError& error) {
        db.fail_open(error.result_code());
    }
    return db;
}

void Database::fail_open(int result_code) const
{
    sqlite3* handle = m_connection->handle;
    const auto& file = m_connection->path;
    const auto shown = file.string();
    const int system_error = handle ? sqlite3_system_errno(handle) : 0;
    switch (result_code & 0xff) {
    case SQLITE_NOTADB:
        throw SqliteError(result_code, fmt::format("{} is not a SQLite database", shown));
    case SQLITE_CANTOPEN: {
        if (system_error == EACCES || system_error == EPERM || system_error == EROFS)
            throw SqliteError(SQLITE_PERM,
                              fmt::format("cannot open {}: {} (check the permissions of the file, "
                                          "of its -wal and -shm files and of its folder)",
                                          shown, std::strerror(system_error)));
        // A WAL database whose -wal cannot be made beside it (a read-only mount, a folder this
        // user cannot write): SQLite's last try, reading the -wal, finds no such file.
        if (system_error == ENOENT && ::access(file.c_str(), F_OK) == 0) {
            const auto folder = file.has_parent_path() ? file.parent_path() : ".";
            if (::access(folder.c_str(), W_OK) != 0)
                throw SqliteError(SQLITE_PERM,
                                  fmt::format("{} is read-only: its folder cannot take the -wal "
                                              "file WAL mode needs ({})",
                                              shown, std::strerror(errno)));
        }
        // SQLite refuses a full path (symlinks resolved) longer than its unix VFS allows,
        // before any system call.
        std::error_code ec;
        const auto full = std::filesystem::weakly_canonical(file, ec).string();
        if (full.size() > sqlite_max_path_length)
            throw SqliteError(result_code, too_long(shown, full.size()));
        throw SqliteError(result_code,
                          fmt::format("cannot open {}: {}", shown,
                                      system_error != 0 ? std::strerror(system_error)
                                                        : sqlite3_errstr(result_code)));
    }
    default:
        throw SqliteError(result_code, fmt::format("cannot open {}: {}", shown,
                                                   handle ? sqlite3_errmsg(handle)
                                                          : sqlite3_errstr(result_code)));
    }
}

namespace {

const char* file_kind(mode_t mode)
{
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

// True when `path`, a regular file of size 0, still yields bytes while its size stays 0: a
// /proc or /sys file. A database another process is creating at this moment also yields bytes
// after an empty stat, but its size has grown by then.
bool has_hidden_content(const std::filesystem::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return false;
    char byte = 0;
    struct stat after {};
    const bool content = ::read(fd, &byte, 1) > 0 && ::fstat(fd, &after) == 0 && after.st_size == 0;
    ::close(fd);
    return content;
}

// What can be told about `path` before SQLite sees it: only a regular file (symlinks
// followed) is opened, since opening a FIFO blocks and devices or /proc files are no
// databases.
// Makes `dir` and its missing parents, each exactly 0700 whatever the umask: a database
// holds agents' output and the folder is the one thing guarding it.
void make_private_dirs(const std::filesystem::path& dir)
{
    std::error_code ec;
    if (dir.empty() || std::filesystem::is_directory(dir, ec)) return;
    if (dir.has_parent_path() && dir.parent_path() != dir) make_private_dirs(dir.parent_path());
    if (::mkdir(dir.c_str(), 0700) == 0) {
        ::chmod(dir.c_str(), 0700);  // the umask may have taken bits away
        return;
    }
    if (errno != EEXIST)
        throw Error(Exit::cant_create, "cannot create {}: {}", dir.string(), std::strerror(errno));
}

// Creates the new database file exactly 0600 (its -wal and -shm take its mode). Returns
// false when another process created it first.
bool create_private_file(const std::filesystem::path& path)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return false;
        throw Error(Exit::cant_create, "cannot create {}: {}", path.string(), std::strerror(errno));
    }
    ::fchmod(fd, 0600);
    ::close(fd);
    return true;
}

// Returns true when it created the file (a new, empty database).
bool check_file(const std::filesystem::path& path, OpenMode mode)
{
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        const int error = errno;
        if (error == ENOENT && mode == OpenMode::create) {
            if (path.has_parent_path()) make_private_dirs(path.parent_path());
            return create_private_file(path);
        }
        if (error == ENOENT) throw Error(Exit::no_input, "no database at {}", path.string());
        if (error == EACCES)
            throw Error(Exit::no_perm, "cannot open {}: {} (check the permissions of its folders)",
                        path.string(), std::strerror(error));
        throw Error(Exit::no_input, "cannot open {}: {}", path.string(), std::strerror(error));
    }
    if (S_ISDIR(info.st_mode))
        throw Error(Exit::data, "{} is a directory, not a SQLite database", path.string());
    std::error_code ec;
    if (const auto full = std::filesystem::absolute(path, ec).string();
        full.size() > sqlite_max_path_length)
        throw Error(Exit::no_input, too_long(path.string(), full.size()));
    if (!S_ISREG(info.st_mode))
        throw Error(Exit::data, "{} is {}, not a SQLite database file", path.string(),
                    file_kind(info.st_mode));
    if (info.st_size == 0 && has_hidden_content(path))
        throw Error(Exit::data,
                    "{} claims to be empty but has content (a /proc or /sys file?), not a SQLite "
                    "database file",
                    path.string());
    return false;
}

int open_flags(OpenMode mode)
{
    switch (mode) {
    case OpenMode::read_only: return SQLITE_OPEN_READONLY;
    case OpenMode::read_write: return SQLITE_OPEN_READWRITE;
    case OpenMode::create: return SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    }
    return SQLITE_OPEN_READONLY;
}

std::uint64_t size_or_zero(const std::string& path)
{
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 ? static_cast<std::uint64_t>(info.st_size) : 0;
}

// Throws when a WAL or journal beside `path` holds content that an immutable open would not
// read.
void ensure_nothing_unread(const std::filesystem::path& path)
{
    for (const auto& [suffix, what] :
         {std::pair{"-wal", "WAL"}, std::pair{"-journal", "rollback journal"}}) {
        const auto bytes = size_or_zero(path.string() + suffix);
        if (bytes > 0)
            throw SqliteError(SQLITE_PERM,
                              fmt::format("cannot read {}: its {} holds {} bytes not yet in the "
                                          "file, and reading them needs write access to its "
                                          "folder (for the {}-shm file); ask its owner to run "
                                          "db-vacuum --auto, which checkpoints it",
                                          path.string(), what, bytes, path.filename().string()));
    }
}

// Whether a read-only open that failed may fall back to the immutable open: the -shm (or a
// lock) could not be made, the file itself is readable, and no WAL or journal holds content
// that an immutable open would not read. Throws when such content is in the way.
bool immutable_fallback(const std::filesystem::path& path, const SqliteError& error)
{
    const int primary = error.result_code() & 0xff;
    if (primary != SQLITE_READONLY && primary != SQLITE_CANTOPEN && primary != SQLITE_PERM)
        return false;
    if (::access(path.c_str(), R_OK) != 0) return false;
    ensure_nothing_unread(path);
    return true;
}

// Whether reading `path` would leave a -wal and a -shm of this user's beside another user's
// WAL database: made with the database's mode but owned by this user, they keep its owner
// from writing to it ("attempt to write a readonly database") until someone removes them.
// Root's are handed to the database's owner by SQLite itself.
bool would_leave_files_for_its_owner(const std::filesystem::path& path)
{
    struct stat info {};
    if (::geteuid() == 0 || ::stat(path.c_str(), &info) != 0 || info.st_uid == ::geteuid())
        return false;
    if (::access((path.string() + "-shm").c_str(), F_OK) == 0) return false;
    // A rollback-journal file is read with a lock on the file alone.
    return in_wal_mode(path);
}

bool needs_recovery(const SqliteError& error)
{
    return error.result_code() == SQLITE_READONLY_ROLLBACK ||
           error.result_code() == SQLITE_READONLY_RECOVERY;
}

}  // namespace

bool in_wal_mode(const std::filesystem::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return false;
    std::array<char, 20> header{};
    const bool read = ::pread(fd, header.data(), header.size(), 0) == std::ssize(header);
    ::close(fd);
    constexpr std::string_view magic("SQLite format 3\0", 16);
    return read && std::string_view(header.data(), magic.size()) == magic && header[18] == 2 &&
           header[19] == 2;
}

Database Database::open(const std::filesystem::path& path, const OpenOptions& options)
{
    const bool created = check_file(path, options.mode);
    const int flags = open_flags(options.mode);
    if (options.mode == OpenMode::read_only && would_leave_files_for_its_owner(path)) {
        ensure_nothing_unread(path);
        return connect_immutable(path, options.busy_timeout_ms);
    }
    std::optional<Database> db;
    try {
        db.emplace(connect(path, flags, options.busy_timeout_ms, options.stop));
    } catch (const SqliteError& error) {
        if (options.mode == OpenMode::read_only && !needs_recovery(error) &&
            immutable_fallback(path, error))
            return connect_immutable(path, options.busy_timeout_ms);
        // A journal left by a writer that was killed must be rolled back before anyone reads,
        // and a read-only connection cannot: a writable one recovers it, as SQLite would.
        if (options.mode != OpenMode::read_only || !needs_recovery(error)) throw;
        try {
            connect(path, SQLITE_OPEN_READWRITE, options.busy_timeout_ms, options.stop);
        } catch (const SqliteError& recovery) {
            throw SqliteError(recovery.result_code(),
                              fmt::format("{}: a writer was interrupted and its journal needs "
                                          "write access to be rolled back: {}",
                                          path.string(), recovery.what()));
        }
        db.emplace(connect(path, flags, options.busy_timeout_ms, options.stop));
    }
    db->exec("PRAGMA foreign_keys=ON");
    if (options.mode == OpenMode::read_only) return std::move(*db);

    if (db->is_read_only())
        throw SqliteError(SQLITE_READONLY,
                          fmt::format("{} is read-only: cannot write to it", path.string()));
    // Only before the first table: the mode the toolkit exists to keep free pages in check.
    // Whoever comes first to a file still empty sets it, the process that created the file or
    // another one that opened it a moment later.
    if (created || db->query_int("PRAGMA page_count") == 0)
        db->exec("PRAGMA auto_vacuum=INCREMENTAL");
    if (switch_to_wal(*db, options.busy_timeout_ms, options.stop) != "wal")
        throw Error(Exit::software, "{}: could not switch to WAL journal mode", path.string());
    db->exec("PRAGMA synchronous=NORMAL");
    return std::move(*db);
}

}  // namespace common
