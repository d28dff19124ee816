#pragma once
// db-vacuum's --backup: a copy made with VACUUM INTO under a temporary name, put in place
// only when whole, and the temporaries of backups killed half-way cleared away.

#include "common/sqlite.hpp"

#include <filesystem>

namespace db_vacuum {

// Throws Error 73 when `target` exists (a symlink included), or its folder is missing or not
// writable.
void ensure_backup_target_free(const std::filesystem::path& target);

// Writes the backup of `db` to `backup`, never over a file that appeared meanwhile; removes
// the dead temporaries of earlier runs beside it first, and its own when it fails or a
// signal interrupts it. Throws Error 73 as ensure_backup_target_free(), 75 when busy past
// `retry`.
void take_backup(common::Database& db, const std::filesystem::path& backup,
                 const common::RetryPolicy& retry);

}  // namespace db_vacuum
