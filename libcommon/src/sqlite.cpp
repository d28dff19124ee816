#include "common/sqlite.hpp"

#include "sqlite_connection.hpp"

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

// Non-zero interrupts the running statement.
int interrupt_if_stopped(void* stop)
{
    return static_cast<const std::atomic<bool>*>(stop)->load() ? 1 : 0;
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

bool Statement::is_integer(int index) const
{
    return sqlite3_column_type(m_statement, index) == SQLITE_INTEGER;
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

void Database::interrupt_when(const std::atomic<bool>* stop)
{
    // Looked at every few thousand virtual machine steps: microseconds apart, and free.
    constexpr int steps = 4096;
    if (stop)
        sqlite3_progress_handler(m_connection->handle, steps, interrupt_if_stopped,
                                 const_cast<std::atomic<bool>*>(stop));
    else
        sqlite3_progress_handler(m_connection->handle, 0, nullptr, nullptr);
}

int Database::busy_timeout_ms() const
{
    return m_connection->busy_timeout_ms;
}

void Database::set_busy_timeout(int milliseconds)
{
    m_connection->busy_timeout_ms = milliseconds;
    if (m_connection->stop)
        sqlite3_busy_handler(m_connection->handle, wait_while_busy, m_connection.get());
    else
        sqlite3_busy_timeout(m_connection->handle, milliseconds);
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
