#include "common/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <random>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>

namespace common {

Exit exit_for_sqlite(int result_code) noexcept
{
    switch (result_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Exit::temp_fail;
    case SQLITE_CANTOPEN: return Exit::no_input;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Exit::data;
    case SQLITE_IOERR:
    case SQLITE_FULL: return Exit::io;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH: return Exit::no_perm;
    default: return Exit::software;
    }
}

SqliteError::SqliteError(int result_code, const std::string& message)
    : Error(exit_for_sqlite(result_code), message), m_result_code(result_code)
{
}

bool SqliteError::is_busy() const noexcept
{
    const int primary = m_result_code & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

// Connection --------------------------------------------------------------------------------

struct Connection {
    Connection(sqlite3* handle_, std::filesystem::path path_, int busy_timeout_ms_)
        : handle(handle_), path(std::move(path_)), busy_timeout_ms(busy_timeout_ms_)
    {
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() { sqlite3_close_v2(handle); }

    sqlite3* handle;
    std::filesystem::path path;
    int busy_timeout_ms;
    const std::atomic<bool>* stop = nullptr;  // ends busy waits once set
    bool immutable = false;
};

// The busy timeout waited in short steps, each looking at the connection's stop flag.
int wait_while_busy(void* connection, int calls)
{
    constexpr int step_ms = 10;
    const auto& owner = *static_cast<const Connection*>(connection);
    if (owner.stop && owner.stop->load()) return 0;
    if (static_cast<long long>(calls) * step_ms >= owner.busy_timeout_ms) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
    return 1;
}

// Statement ---------------------------------------------------------------------------------

Statement::Statement(sqlite3_stmt* statement, std::shared_ptr<Connection> connection)
    : m_statement(statement), m_connection(std::move(connection))
{
}

Statement::Statement(Statement&& other) noexcept
    : m_statement(std::exchange(other.m_statement, nullptr)),
      m_connection(std::move(other.m_connection))
{
}

Statement::~Statement()
{
    // Finalized before the connection it may be the last owner of is closed.
    sqlite3_finalize(m_statement);
}

void Statement::fail(int result_code) const
{
    const char* sql = sqlite3_sql(m_statement);
    throw SqliteError(result_code,
                      fmt::format("{}: {} (in: {})", m_connection->path.string(),
                                  sqlite3_errmsg(m_connection->handle), sql ? sql : "?"));
}

void Statement::out_of_range(int index, const std::string& value) const
{
    const char* sql = sqlite3_sql(m_statement);
    throw Error(Exit::data, "{}: {} does not fit a SQLite integer (parameter {} in: {})",
                m_connection->path.string(), value, index, sql ? sql : "?");
}

Statement& Statement::bind_int64(int index, std::int64_t value)
{
    if (const int rc = sqlite3_bind_int64(m_statement, index, value); rc != SQLITE_OK) fail(rc);
    return *this;
}

Statement& Statement::bind(int index, double value)
{
    if (const int rc = sqlite3_bind_double(m_statement, index, value); rc != SQLITE_OK) fail(rc);
    return *this;
}

Statement& Statement::bind(int index, std::string_view value)
{
    const int rc = sqlite3_bind_text64(m_statement, index, value.data(), value.size(),
                                       SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) fail(rc);
    return *this;
}

Statement& Statement::bind(int index, std::nullptr_t)
{
    if (const int rc = sqlite3_bind_null(m_statement, index); rc != SQLITE_OK) fail(rc);
    return *this;
}

bool Statement::step()
{
    const int rc = sqlite3_step(m_statement);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(rc);
}

void Statement::run()
{
    while (step()) {
    }
}

void Statement::reset()
{
    sqlite3_reset(m_statement);
    sqlite3_clear_bindings(m_statement);
}

int Statement::column_count() const
{
    return sqlite3_column_count(m_statement);
}

std::string Statement::column_name(int index) const
{
    const char* name = sqlite3_column_name(m_statement, index);
    return name ? name : "";
}

bool Statement::is_null(int index) const
{
    return sqlite3_column_type(m_statement, index) == SQLITE_NULL;
}

std::int64_t Statement::column_int(int index) const
{
    return sqlite3_column_int64(m_statement, index);
}

std::optional<std::int64_t> Statement::column_int_optional(int index) const
{
    if (is_null(index)) return std::nullopt;
    return column_int(index);
}

double Statement::column_double(int index) const
{
    return sqlite3_column_double(m_statement, index);
}

std::string Statement::column_text(int index) const
{
    const auto* text = sqlite3_column_text(m_statement, index);
    if (!text) return {};
    return {reinterpret_cast<const char*>(text),
            static_cast<std::size_t>(sqlite3_column_bytes(m_statement, index))};
}

Value Statement::column_value(int index) const
{
    switch (sqlite3_column_type(m_statement, index)) {
    case SQLITE_INTEGER: return column_int(index);
    case SQLITE_FLOAT: return column_double(index);
    case SQLITE_TEXT: return column_text(index);
    case SQLITE_BLOB: {
        const auto* data =
            static_cast<const unsigned char*>(sqlite3_column_blob(m_statement, index));
        const auto size = static_cast<std::size_t>(sqlite3_column_bytes(m_statement, index));
        return Blob{{data, data + size}};
    }
    default: return nullptr;
    }
}

// Database ----------------------------------------------------------------------------------

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
// for with the busy handler: wait here instead, as long as the busy timeout allows.
std::string switch_to_wal(const Database& db, int busy_timeout_ms)
{
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
    for (;;) {
        try {
            return db.query_text("PRAGMA journal_mode=WAL");
        } catch (const SqliteError& error) {
            if (!error.is_busy() || std::chrono::steady_clock::now() >= deadline) throw;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace

Database::Database(sqlite3* handle, std::filesystem::path path, int busy_timeout_ms)
    : m_connection(std::make_shared<Connection>(handle, std::move(path), busy_timeout_ms))
{
}

Database::Database(Database&& other) noexcept = default;

Database::~Database() = default;

const std::filesystem::path& Database::path() const
{
    return m_connection->path;
}

void Database::stop_waiting_when(const std::atomic<bool>& stop)
{
    m_connection->stop = &stop;
    sqlite3_busy_handler(m_connection->handle, wait_while_busy, m_connection.get());
}

int Database::busy_timeout_ms() const
{
    return m_connection->busy_timeout_ms;
}

Database Database::connect(const std::filesystem::path& path, int flags, int busy_timeout_ms)
{
    sqlite3* handle = nullptr;
    const auto name = sqlite_file_name(path);
    const int rc = sqlite3_open_v2(name.c_str(), &handle, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    // Owned from here on, so that a failed open is closed too.
    Database db(handle, path, busy_timeout_ms);
    if (rc != SQLITE_OK) db.fail_open(rc);
    sqlite3_extended_result_codes(handle, 1);
    sqlite3_busy_timeout(handle, busy_timeout_ms);
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

// True when `path`, a regular file of size 0, still yields bytes: a /proc or /sys file.
bool has_hidden_content(const std::filesystem::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return false;
    char byte = 0;
    const bool content = ::read(fd, &byte, 1) > 0;
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

// Whether a read-only open that failed may fall back to the immutable open: the -shm (or a
// lock) could not be made, the file itself is readable, and no WAL or journal holds content
// that an immutable open would not read. Throws when such content is in the way.
bool immutable_fallback(const std::filesystem::path& path, const SqliteError& error)
{
    const int primary = error.result_code() & 0xff;
    if (primary != SQLITE_READONLY && primary != SQLITE_CANTOPEN && primary != SQLITE_PERM)
        return false;
    if (::access(path.c_str(), R_OK) != 0) return false;
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
    return true;
}

bool needs_recovery(const SqliteError& error)
{
    return error.result_code() == SQLITE_READONLY_ROLLBACK ||
           error.result_code() == SQLITE_READONLY_RECOVERY;
}

}  // namespace

Database Database::open(const std::filesystem::path& path, const OpenOptions& options)
{
    const bool created = check_file(path, options.mode);
    const int flags = open_flags(options.mode);
    std::optional<Database> db;
    try {
        db.emplace(connect(path, flags, options.busy_timeout_ms));
    } catch (const SqliteError& error) {
        if (options.mode == OpenMode::read_only && !needs_recovery(error) &&
            immutable_fallback(path, error))
            return connect_immutable(path, options.busy_timeout_ms);
        // A journal left by a writer that was killed must be rolled back before anyone reads,
        // and a read-only connection cannot: a writable one recovers it, as SQLite would.
        if (options.mode != OpenMode::read_only || !needs_recovery(error)) throw;
        try {
            connect(path, SQLITE_OPEN_READWRITE, options.busy_timeout_ms);
        } catch (const SqliteError& recovery) {
            throw SqliteError(recovery.result_code(),
                              fmt::format("{}: a writer was interrupted and its journal needs "
                                          "write access to be rolled back: {}",
                                          path.string(), recovery.what()));
        }
        db.emplace(connect(path, flags, options.busy_timeout_ms));
    }
    db->exec("PRAGMA foreign_keys=ON");
    if (options.mode == OpenMode::read_only) return std::move(*db);

    if (db->is_read_only())
        throw SqliteError(SQLITE_READONLY,
                          fmt::format("{} is read-only: cannot write to it", path.string()));
    // Only before the first table: the mode the toolkit exists to keep free pages in check.
    if (created) db->exec("PRAGMA auto_vacuum=INCREMENTAL");
    if (switch_to_wal(*db, options.busy_timeout_ms) != "wal")
        throw Error(Exit::software, "{}: could not switch to WAL journal mode", path.string());
    db->exec("PRAGMA synchronous=NORMAL");
    return std::move(*db);
}

std::filesystem::path Database::file_path() const
{
    const char* name = sqlite3_db_filename(m_connection->handle, "main");
    return name && *name ? std::filesystem::path(name) : path();
}

void Database::fail(int result_code, std::string_view sql) const
{
    throw SqliteError(result_code,
                      fmt::format("{}: {} (in: {})", path().string(), error_message(), sql));
}

std::string Database::error_message() const
{
    return sqlite3_errmsg(m_connection->handle);
}

namespace {

std::string_view trim(std::string_view text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

// The length of the first statement of `sql`: up to the first ';' that completes one, as
// sqlite3_complete judges (it knows strings, comments and trigger bodies), else all of it.
std::size_t statement_end(std::string_view sql)
{
    for (auto semicolon = sql.find(';'); semicolon != std::string_view::npos;
         semicolon = sql.find(';', semicolon + 1)) {
        const std::string candidate(sql.substr(0, semicolon + 1));
        if (sqlite3_complete(candidate.c_str()) != 0) return semicolon + 1;
    }
    return sql.size();
}

}  // namespace

void Database::exec(std::string_view sql)
{
    // One statement at a time, so that an error names the statement that failed rather than
    // the whole script.
    for (sql = trim(sql); !sql.empty(); sql = trim(sql)) {
        const auto end = statement_end(sql);
        const auto one = sql.substr(0, end);
        sqlite3_stmt* raw = nullptr;
        const int rc = sqlite3_prepare_v2(m_connection->handle, one.data(),
                                          static_cast<int>(one.size()), &raw, nullptr);
        if (rc != SQLITE_OK) fail(rc, trim(one));
        // A piece of only comments prepares to no statement.
        if (raw != nullptr) Statement(raw, m_connection).run();
        sql.remove_prefix(end);
    }
}

Statement Database::prepare(std::string_view sql) const
{
    sqlite3_stmt* statement = nullptr;
    const int rc = sqlite3_prepare_v2(m_connection->handle, sql.data(),
                                      static_cast<int>(sql.size()), &statement, nullptr);
    if (rc != SQLITE_OK) fail(rc, sql);
    return Statement(statement, m_connection);
}

std::int64_t Database::query_int(std::string_view sql) const
{
    auto statement = prepare(sql);
    return statement.step() ? statement.column_int(0) : 0;
}

std::optional<std::int64_t> Database::query_optional_int(std::string_view sql) const
{
    auto statement = prepare(sql);
    return statement.step() ? statement.column_int_optional(0) : std::nullopt;
}

std::string Database::query_text(std::string_view sql) const
{
    auto statement = prepare(sql);
    return statement.step() ? statement.column_text(0) : std::string();
}

std::vector<std::vector<Value>> Database::query_rows(std::string_view sql) const
{
    auto statement = prepare(sql);
    std::vector<std::vector<Value>> rows;
    while (statement.step()) {
        auto& row = rows.emplace_back();
        for (int i = 0; i < statement.column_count(); ++i)
            row.push_back(statement.column_value(i));
    }
    return rows;
}

namespace {

// Stand-ins that let the replay go on past a missing collation or function.
int compare_bytes(void*, int left_size, const void* left, int right_size, const void* right)
{
    const int common_size = std::min(left_size, right_size);
    const int order = std::memcmp(left, right, static_cast<std::size_t>(common_size));
    return order != 0 ? order : left_size - right_size;
}

void null_function(sqlite3_context* context, int, sqlite3_value**)
{
    sqlite3_result_null(context);
}

// The name in "PREFIX name" or "PREFIX name()", when `message` starts with PREFIX.
std::optional<std::string> name_after(std::string_view message, std::string_view prefix)
{
    if (message.substr(0, prefix.size()) != prefix) return std::nullopt;
    auto name = message.substr(prefix.size());
    if (name.size() > 2 && name.substr(name.size() - 2) == "()") name.remove_suffix(2);
    return std::string(name);
}

void add_once(std::vector<std::string>& names, const std::string& name)
{
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

}  // namespace

UndefinedNames Database::undefined_names() const
{
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, nullptr);
    const std::unique_ptr<sqlite3, int (*)(sqlite3*)> replay(raw, sqlite3_close_v2);
    if (rc != SQLITE_OK) throw SqliteError(rc, "cannot open an in-memory database");

    // VACUUM recreates the tables, then the indexes, by running their SQL; virtual tables
    // (root page 0) and SQLite's own tables are copied as they are.
    auto schema = prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL "
                          "AND type IN ('table', 'index') AND coalesce(rootpage, 1) > 0 "
                          "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                          "ORDER BY type = 'index', rowid");
    UndefinedNames undefined;
    while (schema.step()) {
        const auto sql = schema.column_text(0);
        // Each round defines one missing name and tries again, so that all are found.
        for (int round = 0; round < 64; ++round) {
            if (sqlite3_exec(replay.get(), sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK)
                break;
            const std::string message = sqlite3_errmsg(replay.get());
            if (auto name = name_after(message, "no such collation sequence: ")) {
                add_once(undefined.collations, *name);
                sqlite3_create_collation_v2(replay.get(), name->c_str(), SQLITE_UTF8, nullptr,
                                            compare_bytes, nullptr);
            } else if (auto function = name_after(message, "no such function: ")) {
                add_once(undefined.functions, *function);
                sqlite3_create_function_v2(replay.get(), function->c_str(), -1,
                                           SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                           null_function, nullptr, nullptr, nullptr);
            } else {
                break;  // not this check's business: VACUUM will say
            }
        }
    }
    return undefined;
}

bool Database::table_exists(std::string_view table) const
{
    auto statement = prepare("SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?");
    statement.bind(1, table);
    return statement.step();
}

std::vector<std::string> Database::column_names(std::string_view table) const
{
    auto statement = prepare("SELECT name FROM pragma_table_info(?)");
    statement.bind(1, table);
    std::vector<std::string> names;
    while (statement.step())
        names.push_back(statement.column_text(0));
    return names;
}

CheckpointResult Database::checkpoint_truncate()
{
    CheckpointResult result;
    const int rc =
        sqlite3_wal_checkpoint_v2(m_connection->handle, "main", SQLITE_CHECKPOINT_TRUNCATE,
                                  &result.wal_frames, &result.checkpointed_frames);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        throw SqliteError(rc, fmt::format("{}: WAL checkpoint could not finish: another connection "
                                          "is reading or writing",
                                          path().string()));
    if (rc != SQLITE_OK) fail(rc, "PRAGMA wal_checkpoint(TRUNCATE)");
    return result;
}

std::int64_t Database::last_insert_rowid() const
{
    return sqlite3_last_insert_rowid(m_connection->handle);
}

int Database::changes() const
{
    return sqlite3_changes(m_connection->handle);
}

bool Database::is_immutable() const
{
    return m_connection->immutable;
}

bool Database::is_read_only() const
{
    return sqlite3_db_readonly(m_connection->handle, "main") == 1;
}

bool Database::in_transaction() const
{
    return sqlite3_get_autocommit(m_connection->handle) == 0;
}

// Transaction -------------------------------------------------------------------------------

Transaction::Transaction(Database& database) : m_database(database)
{
    if (m_database.in_transaction())
        throw Error(Exit::software,
                    "{}: internal error: a write transaction was begun inside another one "
                    "(SQLite has no nested transactions)",
                    m_database.path().string());
    m_database.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction()
{
    if (m_finished) return;
    try {
        m_database.exec("ROLLBACK");
    } catch (...) {
        // The connection rolls back by itself when the transaction cannot be ended here.
    }
}

void Transaction::commit()
{
    // A failed COMMIT leaves the transaction open: the destructor then rolls it back.
    m_database.exec("COMMIT");
    m_finished = true;
}

void Transaction::rollback()
{
    if (m_finished) return;
    m_finished = true;
    m_database.exec("ROLLBACK");
}

std::string auto_vacuum_mode(const Database& db)
{
    const auto mode = db.query_int("PRAGMA auto_vacuum");
    switch (mode) {
    case 0: return "none";
    case 1: return "full";
    case 2: return "incremental";
    default: return fmt::format("unknown({})", mode);
    }
}

// Retry -------------------------------------------------------------------------------------

void retry_busy(const std::function<void()>& attempt, const RetryPolicy& policy)
{
    std::mt19937 random{std::random_device{}()};
    double wait_ms = static_cast<double>(policy.initial.count());
    for (int tried = 1;; ++tried) {
        std::chrono::microseconds wait{};
        try {
            attempt();
            return;
        } catch (const SqliteError& error) {
            if (!error.is_busy()) throw;
            if (tried >= policy.attempts)
                throw Error(Exit::temp_fail, "database is busy, gave up after {} attempts: {}",
                            tried, error.what());
            std::uniform_real_distribution<double> jitter(wait_ms / 2, wait_ms);
            wait = std::chrono::microseconds(std::llround(jitter(random) * 1000));
            if (policy.on_retry)
                policy.on_retry(tried, std::chrono::duration_cast<std::chrono::milliseconds>(wait),
                                error);
        }
        std::this_thread::sleep_for(wait);
        wait_ms *= policy.factor;
    }
}

}  // namespace common
