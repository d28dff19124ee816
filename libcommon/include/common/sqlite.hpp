#pragma once
// RAII handles over SQLite: a database connection, a prepared statement and an IMMEDIATE
// transaction, plus the retry of busy writes. sqlite3.h stays inside libcommon.

#include "common/error.hpp"

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace common {

// A SQLite failure: the exit code follows the result code (busy/locked 75, cantopen 66,
// corrupt/notadb 65, ioerr/full 74, readonly/perm 77, else 70); the message names the
// statement and the database.
class SqliteError : public Error {
public:
    SqliteError(int result_code, const std::string& message);
    int result_code() const noexcept { return m_result_code; }
    // True for SQLITE_BUSY and SQLITE_LOCKED (and their extended codes): worth a retry.
    bool is_busy() const noexcept;

private:
    int m_result_code;
};

// The exit code for a SQLite (extended) result code.
Exit exit_for_sqlite(int result_code) noexcept;

enum class OpenMode {
    read_only,   // never writes, never creates; for reports and checks
    read_write,  // the file must exist
    create,      // creates the file and its parent folders when missing
};

struct OpenOptions {
    OpenMode mode = OpenMode::read_write;
    int busy_timeout_ms = 5000;
    // When given, waits for a busy database end as soon as it is set, the open's own
    // included (see Database::stop_waiting_when); it must outlive the connection.
    const std::atomic<bool>* stop = nullptr;
};

struct Blob {
    std::vector<unsigned char> bytes;
    bool operator==(const Blob&) const = default;
};

// One column value as SQLite stores it.
using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string, Blob>;

class Database;
// The connection a Database and its Statements share; closed when the last of them is gone.
struct Connection;

// The name to hand SQLite for the file at `path`, so that it opens that literal file:
// "file:x.db" and ":memory:" become "./file:x.db" and "./:memory:".
std::string sqlite_file_name(const std::filesystem::path& path);

// The URI that opens the literal file `path` (made absolute, every byte outside RFC 3986's
// unreserved set and '/' percent-encoded) read-only and immutable.
std::string immutable_uri(const std::filesystem::path& path);

// The longest full path, in bytes, of a database SQLite's unix VFS opens: 512 less room for
// the "-journal" it may look for beside it.
constexpr std::size_t sqlite_max_path_length = 504;

// A prepared statement; bind parameters are 1-based, columns 0-based. It shares ownership of
// its connection, so it stays valid (and its errors name the database) after the Database
// it came from was moved or destroyed.
class Statement {
public:
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&&) = delete;
    Statement(const Statement&) = delete;
    ~Statement();

    // Binds parameter `index` (1-based); text is copied. Returns *this for chaining.
    // Any integer type; one beyond SQLite's 64-bit signed range throws Error 65 rather than
    // wrap around.
    template <std::integral T> Statement& bind(int index, T value)
    {
        if constexpr (std::is_same_v<T, bool>) {
            return bind_int64(index, value ? 1 : 0);
        } else {
            if (!std::in_range<std::int64_t>(value)) out_of_range(index, std::to_string(value));
            return bind_int64(index, static_cast<std::int64_t>(value));
        }
    }
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, const std::string& value)
    {
        return bind(index, std::string_view(value));
    }
    Statement& bind(int index, std::nullptr_t);
    template <typename T> Statement& bind(int index, const std::optional<T>& value)
    {
        return value ? bind(index, *value) : bind(index, nullptr);
    }

    // Steps once: true when a row is ready, false when done. Throws SqliteError.
    bool step();
    // Steps to the end, for statements that return no rows.
    void run();
    // Makes the statement ready to run again and clears its bindings.
    void reset();

    // The current row's columns (0-based); an integer or text of a NULL is 0 or "": where
    // NULL means "unknown" (a latency that was never measured), use column_int_optional.
    int column_count() const;
    std::string column_name(int index) const;
    bool is_null(int index) const;
    // Whether the column holds an integer as stored (not text, a blob or a real); ask before
    // reading it another way, which may convert it.
    bool is_integer(int index) const;
    std::int64_t column_int(int index) const;
    std::optional<std::int64_t> column_int_optional(int index) const;
    double column_double(int index) const;
    std::string column_text(int index) const;
    Value column_value(int index) const;

private:
    friend class Database;
    Statement(sqlite3_stmt* statement, std::shared_ptr<Connection> connection);
    Statement& bind_int64(int index, std::int64_t value);
    [[noreturn]] void fail(int result_code) const;
    [[noreturn]] void out_of_range(int index, const std::string& value) const;

    sqlite3_stmt* m_statement;
    std::shared_ptr<Connection> m_connection;
};

// Names a schema uses that SQLite does not define (see Database::undefined_names()).
struct UndefinedNames {
    std::vector<std::string> collations;
    std::vector<std::string> functions;
    bool empty() const { return collations.empty() && functions.empty(); }
};

// Frames in the WAL and frames copied back by a checkpoint (-1 when not in WAL mode).
struct CheckpointResult {
    int wal_frames = -1;
    int checkpointed_frames = -1;
};

// Whether the SQLite file at `path` (a symlink followed, as SQLite does) is in WAL mode, read
// from its header (bytes 18 and 19 are 2); false when it cannot be read or is not a SQLite
// file.
bool in_wal_mode(const std::filesystem::path& path);

// One connection. Writable connections get WAL, synchronous=NORMAL, foreign_keys=ON and the
// busy timeout; read-only ones only foreign_keys and the timeout, so that they change nothing.
class Database {
public:
    // Opens the literal file `path` (never a URI or an in-memory database). Throws Error 66
    // when the file is missing (unless OpenMode::create) or cannot be opened for a reason
    // other than permissions, which the message names; 65 when it is not a regular file
    // (checked before any open that could block) or not a SQLite database (an empty file is
    // an empty database); 77 when it cannot be opened for lack of permission or a writable
    // open gets a read-only file. A journal left by an interrupted
    // writer is rolled back first, even for a read-only open, as any SQLite writer would.
    // A read-only open that cannot create the -shm (a folder the user cannot write, a
    // read-only mount) falls back to SQLite's immutable open of the same file, unless a WAL or
    // journal with content would then be ignored (77, saying so); is_immutable() tells.
    static Database open(const std::filesystem::path& path, const OpenOptions& options = {});

    Database(Database&& other) noexcept;
    Database& operator=(Database&&) = delete;
    Database(const Database&) = delete;
    ~Database();

    // Runs one or more statements that return no rows, one after the other. A failure
    // throws SqliteError naming the failing statement only.
    void exec(std::string_view sql);
    Statement prepare(std::string_view sql) const;

    // The first column of the first row of `sql`, as an integer or text (0 or "" for NULL
    // or no row); query_optional_int says nullopt for those instead.
    std::int64_t query_int(std::string_view sql) const;
    std::optional<std::int64_t> query_optional_int(std::string_view sql) const;
    std::string query_text(std::string_view sql) const;
    // Every row of `sql`, for reports and comparisons.
    std::vector<std::vector<Value>> query_rows(std::string_view sql) const;

    // Collations and functions that the schema's tables and indexes use but that only the
    // application owning the file defines: rebuilding (VACUUM) or checking such an index
    // fails. Found read-only, by replaying the schema into an empty in-memory database.
    UndefinedNames undefined_names() const;

    bool table_exists(std::string_view table) const;
    std::vector<std::string> column_names(std::string_view table) const;

    // PRAGMA wal_checkpoint(TRUNCATE). Throws SqliteError (exit 75) when readers or a writer
    // kept it from finishing: a busy checkpoint is a failure, never a success.
    CheckpointResult checkpoint_truncate();

    std::int64_t last_insert_rowid() const;
    int changes() const;
    bool is_read_only() const;
    // True when open() fell back to SQLite's immutable read-only open.
    bool is_immutable() const;
    // True between BEGIN and COMMIT/ROLLBACK.
    bool in_transaction() const;
    int busy_timeout_ms() const;
    // Changes how long a busy database is waited for, keeping the wait's stop (use this, never
    // `PRAGMA busy_timeout`, which would put SQLite's own handler back in place).
    void set_busy_timeout(int milliseconds);
    // From now on a wait for a busy database (up to the busy timeout) ends as soon as `stop`
    // is set, so that a signal is answered at once; `stop` must outlive the connection.
    void stop_waiting_when(const std::atomic<bool>& stop);
    // From now on a statement running when `stop` is set (a VACUUM, a check) ends with a
    // SqliteError (SQLITE_INTERRUPT); nullptr lets statements run to their end again, for
    // what must still be written after a signal.
    void interrupt_when(const std::atomic<bool>* stop);
    // The path as given, for messages.
    const std::filesystem::path& path() const;
    // The file SQLite really opened (symlinks resolved): its -wal lives beside it.
    std::filesystem::path file_path() const;

    // The connection's current error message, for error reports.
    std::string error_message() const;

private:
    Database(sqlite3* handle, std::filesystem::path path, int busy_timeout_ms);
    // Opens with SQLite `flags` and reads the schema, which proves the file is a database;
    // errors through fail_open(). A `stop` ends its busy waits (stop_waiting_when).
    static Database connect(const std::filesystem::path& path, int flags, int busy_timeout_ms,
                            const std::atomic<bool>* stop = nullptr);
    // Opens `path` read-only as immutable: no -shm, no locks, WAL and journal unread.
    static Database connect_immutable(const std::filesystem::path& path, int busy_timeout_ms);
    // Throws the error for a failed open, saying plainly why (not a database, permissions,
    // a path too long for SQLite, the system's reason).
    [[noreturn]] void fail_open(int result_code) const;
    [[noreturn]] void fail(int result_code, std::string_view sql) const;

    std::shared_ptr<Connection> m_connection;
};

// PRAGMA auto_vacuum of `db` by name: none, full or incremental ("unknown(N)" for a mode
// SQLite may add).
std::string auto_vacuum_mode(const Database& db);

// BEGIN IMMEDIATE on construction; rolls back on destruction unless commit() ran.
class Transaction {
public:
    // Throws Error 70 when `database` is already inside a transaction: SQLite has no nested
    // transactions, and code that opens one inside another is a bug in the tool.
    explicit Transaction(Database& database);
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    // Rolls back unless commit() or rollback() ran; never throws.
    ~Transaction();

    // COMMIT; throws SqliteError, and then the destructor rolls back.
    void commit();
    // ROLLBACK; a second call, or one after commit(), does nothing.
    void rollback();
    bool finished() const { return m_finished; }

private:
    Database& m_database;
    bool m_finished = false;
};

// How busy writes are retried: `attempts` tries in all, waiting `initial`, then `initial *
// factor`, ... between them, each wait jittered to between half and all of itself.
struct RetryPolicy {
    int attempts = 3;
    std::chrono::milliseconds initial{100};
    double factor = 1.5;
    // Called before each wait with the attempt that failed (1-based), the wait that follows
    // and the error; Log::retry_policy() (log.hpp) says "busy, retrying" under --verbose.
    std::function<void(int attempt, std::chrono::milliseconds wait, const SqliteError& error)>
        on_retry;
};

// Runs `attempt` and runs it again while it throws a busy SqliteError, up to the policy's
// attempts; then throws Error 75 with the last error's message (which names the database).
// Other errors pass through at once.
void retry_busy(const std::function<void()>& attempt, const RetryPolicy& policy = {});

// Runs `body` inside one IMMEDIATE transaction, committed when `body` returns, and returns
// what `body` returned. When the database is busy the whole transaction is retried, so `body`
// may run more than once: it must start from scratch each time (reset counters it fills,
// keep side effects outside the database until it has returned). Exceptions from `body` roll
// the transaction back and pass through. Calling it inside another transaction on the same
// connection is a bug: Error 70 (see Transaction).
template <typename Body>
std::invoke_result_t<Body&> write_transaction(Database& database, Body&& body,
                                              const RetryPolicy& policy = {})
{
    using Result = std::invoke_result_t<Body&>;
    if constexpr (std::is_void_v<Result>) {
        retry_busy(
            [&] {
                Transaction transaction(database);
                body();
                transaction.commit();
            },
            policy);
    } else {
        static_assert(!std::is_reference_v<Result>, "return values, not references");
        std::optional<Result> result;
        retry_busy(
            [&] {
                Transaction transaction(database);
                result.emplace(body());
                transaction.commit();
            },
            policy);
        return std::move(*result);
    }
}

}  // namespace common
