#pragma once
// The state a Database and its Statements share: the SQLite handle and what the toolkit knows
// of it. Private to libcommon's sqlite sources, the only ones that include sqlite3.h.

#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <utility>

namespace common {

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

}  // namespace common
