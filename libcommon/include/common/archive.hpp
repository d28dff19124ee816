#pragma once
// tar.gz archives (pax format, gzip) written and read through libarchive, on file descriptors
// the caller opened. Each member may carry its SHA-256 in a pax header, so that a reader can
// verify the member without the original.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace common {

// One archive member: a regular file.
struct ArchiveMember {
    std::string path;  // as stored: relative, '/'-separated, raw bytes
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint32_t mode = 0600;
    std::string sha256;  // hex; empty when the archive does not carry it
};

// Writes a tar.gz to `fd` (not owned; the caller fsyncs and closes it). Errors are Error 74
// naming `name`.
class ArchiveWriter {
public:
    // `raw_names`: store names as raw bytes (pax hdrcharset=BINARY), for names that are not
    // UTF-8; GNU tar lists such archives with a warning about the keyword.
    ArchiveWriter(int fd, std::string name, bool raw_names = false);
    ArchiveWriter(const ArchiveWriter&) = delete;
    ArchiveWriter& operator=(const ArchiveWriter&) = delete;
    ~ArchiveWriter();

    // Starts `member` (its size is the number of bytes that must follow), then its content.
    void begin(const ArchiveMember& member);
    void write(std::string_view bytes);
    // Writes the end of the archive and flushes the compressor into `fd`.
    void finish();

private:
    struct Handle;
    std::unique_ptr<Handle> m_handle;
    std::string m_name;
};

// Reads a tar.gz from `fd` (not owned) and computes the SHA-256 of the compressed bytes as it
// goes. A damaged archive is Error 65 naming `name`; a failed read is 74.
class ArchiveReader {
public:
    ArchiveReader(int fd, std::string name);
    ArchiveReader(const ArchiveReader&) = delete;
    ArchiveReader& operator=(const ArchiveReader&) = delete;
    ~ArchiveReader();

    // Moves to the next member; false at the end of the archive. Members that are not
    // regular files are Error 65: this toolkit never writes them.
    bool next(ArchiveMember& member);
    // Passes the current member's content to `sink` in chunks.
    void read_data(const std::function<void(std::string_view)>& sink);
    // The SHA-256 of the whole archive file, once next() has returned false.
    std::string file_sha256();
    // Bytes of the archive file read so far.
    std::uint64_t bytes_read() const;

private:
    struct Handle;
    std::unique_ptr<Handle> m_handle;
    std::string m_name;
};

}  // namespace common
