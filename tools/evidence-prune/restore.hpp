#pragma once
// --restore: an archive's members put back where they were, all or nothing.

#include "archiver.hpp"
#include "common/tree.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace evidence_prune {

// What --restore did.
struct RestoreResult {
    std::vector<Member> restored;
    std::string sha256;  // of the archive file
};

// Puts the members of the archive open on `open_archive()` back under `root`, each with its
// mtime and its permission bits (no setuid, setgid or sticky bit). The whole archive is
// checked before anything is written: every member a regular file, under
// commands/<SPEC-folder>/ or consensus/<SPEC-folder>/, not existing yet, with the content its
// checksum list gives (an archive without one is Error 65 unless `allow_unverified`). Then
// each is written under a temporary name and linked into place, never over a file and never
// through a symlink; when a write fails, the files this call restored are removed again.
// Throws Error 65 (damaged, not ours, a member outside the spec folders), 73 (a member
// exists), 74/77 (a write failed).
// Opens the archive at `archive` for reading, without blocking on a FIFO: Error 65 unless it
// is a regular file.
common::UniqueFd open_archive_file(const std::filesystem::path& archive);

// The checks restore_archive() makes before it writes, alone: run before the database is
// opened, so that a refused --restore changes nothing anywhere. Throws as restore_archive().
void check_restore_archive(const common::TreeRoot& root, const std::filesystem::path& archive,
                           bool allow_unverified);

// `stop`, asked before the first member is written and after each (with the number restored
// so far), ends the restore when it says so: what this call restored is removed again and the
// result lists nothing.
RestoreResult restore_archive(const common::TreeRoot& root, const std::string& archive_path,
                              const std::function<common::UniqueFd()>& open_archive,
                              bool allow_unverified,
                              const std::function<bool(std::size_t restored)>& stop = {});

// Removes the files a restore put back (those still there), for a restore that must not stand.
void remove_restored(const common::TreeRoot& root, const std::vector<Member>& restored);

}  // namespace evidence_prune
