#pragma once
// The toolkit's tables, their version (kept in a table of the toolkit's own, never in
// user_version) and forward-only migrations.

#include "common/sqlite.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

namespace common::schema {

// The schema version this build writes and understands.
constexpr int current_version = 1;

// The table that records which toolkit schema versions were applied.
constexpr std::string_view version_table = "spec_hygiene_schema";

// The toolkit schema version in `db`, or nullopt when the toolkit's tables were never created.
std::optional<int> installed_version(const Database& db);

// Throws Error 65 when `db` holds a toolkit schema newer than this build: nothing is written.
void ensure_supported(const Database& db);

// Opens `path` for writing only after a read-only look has found nothing to refuse: a newer
// toolkit schema (65), or whatever `precheck` throws for. A refused database is therefore left
// exactly as it was, not even switched to WAL. `options.mode` must not be read_only.
Database open_for_writing(const std::filesystem::path& path, const OpenOptions& options,
                          const std::function<void(const Database&)>& precheck = {});

// Brings the toolkit schema to current_version in one IMMEDIATE transaction; a no-op when it
// is current. Tables of other applications are left alone, except that an upstream
// agent_executions gains the toolkit's columns. Returns the version found before (0: none).
int migrate(Database& db, const RetryPolicy& retry = {});

}  // namespace common::schema
