#pragma once
// The checks db-vacuum runs: quick_check, and integrity_check spread over several read-only
// connections, one table with its indexes at a time.

#include "common/sqlite.hpp"
#include "report.hpp"

#include <atomic>
#include <cstdint>

namespace db_vacuum {

// How much of the file a connection that reads it whole maps (SQLite caps it at its own
// limit): reading through the map is much faster than page by page through the cache.
constexpr std::int64_t mmap_limit = std::int64_t{1} << 40;

// `db` reads its file through the map while this lives, page by page again after (however
// the scope ends).
class MappedReads {
public:
    explicit MappedReads(const common::Database& db);
    MappedReads(const MappedReads&) = delete;
    MappedReads& operator=(const MappedReads&) = delete;
    ~MappedReads();

private:
    const common::Database& m_db;
};

// Runs quick_check or integrity_check on `db`; a corrupt file's error becomes a listed
// problem. With `connections` above 1, integrity_check runs as PRAGMA integrity_check(TABLE)
// for every table, on that many read-only connections of their own with the file mapped,
// plus quick_check for what the per-table checks leave out (the free list, pages no table
// uses): the same findings as one integrity_check, in less time on several cores. A set
// `stop` interrupts every connection's check. Throws what opening the connections throws,
// and SqliteError when stopped.
CheckResult run_check(const common::Database& db, CheckKind kind, unsigned connections = 1,
                      const std::atomic<bool>* stop = nullptr);

// The processors this process may run on (its affinity mask), at least 1.
unsigned usable_cores();

}  // namespace db_vacuum
