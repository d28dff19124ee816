#pragma once
// Archives of a spec's files: written under a temporary name, flushed, renamed into place,
// re-read and verified member by member; and put back by --restore.

#include "common/tree.hpp"
#include "policy.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace evidence_prune {

// The member, last in each archive, that lists the others' SHA-256 in sha256sum's format.
constexpr std::string_view manifest_name = ".spec-hygiene.sha256";

// A readable archive without the checksum list: not one evidence-prune made.
class ForeignArchive : public common::Error {
public:
    using common::Error::Error;
};

// An archive whose end could not be written: nothing was put into place.
class ArchiveNotWritten : public common::Error {
public:
    using common::Error::Error;
};

// A file as archived, with the SHA-256 of its content.
struct Member {
    FileRecord file;
    std::string sha256;
};

// An archive written into place.
struct WrittenArchive {
    std::vector<Member> members;       // in archive order
    std::vector<FileRecord> changed;   // left out: changed since the walk, or gone
    std::uint64_t bytes_before = 0;    // the members' sizes
    std::int64_t newest_mtime_ns = 0;  // the evidence time
};

// An archive read back and found to match.
struct VerifiedArchive {
    std::string sha256;  // of the archive file
    std::uint64_t bytes = 0;
};

// Whether write_archive flushes the archive and its folder itself, or leaves that to one
// flush_archives for all of a run's archives (one journal commit instead of two per archive).
enum class Flush { each, deferred };

// Writes `files` into the tar.gz `archive` (relative to the root, in an existing folder):
// temporary name, fsync of file and folder (unless deferred), rename without replacing. A file
// whose size, mtime or inode differ from `files` is left out and listed. Writes nothing when no
// file is left. Throws Error 74/77 (the temporary file is removed) and 73 when `archive` exists.
WrittenArchive write_archive(const common::TreeRoot& root, const std::string& archive,
                             const std::vector<FileRecord>& files, Flush flush = Flush::each);

// What is left of writing an archive once every member has been read: the compressors' last
// pieces, the end of the file, and its rename into place. Runs on any thread, so that the
// next spec's files are read while this archive's end is compressed. Dropped unfinished, it
// removes its temporary file.
class ArchiveTail {
public:
    struct Parts;
    explicit ArchiveTail(std::unique_ptr<Parts> parts);
    ArchiveTail(const ArchiveTail&) = delete;
    ArchiveTail& operator=(const ArchiveTail&) = delete;
    ~ArchiveTail();

    // Finishes the archive and renames it into place, flushed unless deferred. Throws as
    // write_archive does; ArchiveNotWritten when the archive is not in place.
    void finish(Flush flush);

private:
    std::unique_ptr<Parts> m_parts;
};

// write_archive up to its tail: every member read and handed on. No tail when no file was
// left to archive (nothing written).
std::pair<WrittenArchive, std::unique_ptr<ArchiveTail>>
begin_archive(const common::TreeRoot& root, const std::string& archive,
              const std::vector<FileRecord>& files);

// Makes every archive written with Flush::deferred in `folder` (relative to the root) durable:
// syncfs(2) of the file system that holds it, then an fsync of the folder. Throws Error 74.
void flush_archives(const common::TreeRoot& root, const std::string& folder);

// Reads `archive` back: exactly `members`, in order, each with its size and SHA-256.
// Throws Error 65 naming the first difference.
VerifiedArchive verify_archive(const common::TreeRoot& root, const std::string& archive,
                               const std::vector<Member>& members);

// Reads every member of `archive` (relative to the root) and checks each against the SHA-256
// it carries. Returns the members and the archive's own digest; throws ForeignArchive when it
// reads but carries no checksum list, Error 65 when damaged.
std::pair<std::vector<Member>, VerifiedArchive> read_archive(const common::TreeRoot& root,
                                                             const std::string& archive);

// The checksum list's lines (sha256sum's format) as path -> SHA-256. Throws Error 65 naming
// `archive` when a line is malformed.
std::map<std::string, std::string> parse_manifest(std::string_view text,
                                                  const std::string& archive);

}  // namespace evidence_prune
