#include "common/archive.hpp"

#include "common/digest.hpp"
#include "common/error.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace common {
namespace {

// The pax extended attribute that carries a member's SHA-256.
constexpr const char* sha256_attribute = "user.spec-hygiene.sha256";

std::string archive_message(archive* handle)
{
    const char* text = archive_error_string(handle);
    return text ? text : "unknown libarchive error";
}

struct EntryHandle {
    archive_entry* entry = archive_entry_new();
    ~EntryHandle() { archive_entry_free(entry); }
};

}  // namespace

// libarchive formats the tar stream on the caller's thread. The stream is cut into pieces,
// and two compressor threads deflate them side by side into one gzip member, as pigz does:
// each piece starts from the last 32 KiB of the one before as its dictionary and ends on a
// byte boundary (Z_SYNC_FLUSH), the last one ends the stream, and the pieces are written out
// in order between one gzip header and one trailer (the CRC-32 of the pieces combined).
// Reading, hashing and formatting overlap the compression, and two pieces compress at once.
struct ArchiveWriter::Handle {
    // Small, so that little is left to compress, on one thread, once a spec's last file is
    // read; the dictionary keeps the size within a few hundredths of a percent of gzip's.
    static constexpr std::size_t piece_size = 256u << 10;
    static constexpr std::size_t dictionary_size = 32u << 10;  // deflate's window
    static constexpr std::size_t pieces_at_most = 6;           // queued, compressing or unwritten
    static constexpr std::size_t compressor_count = 2;

    struct Piece {
        std::string input;
        std::string dictionary;  // the end of the piece before
        bool last = false;
    };
    struct Compressed {
        std::string output;
        uLong crc = 0;  // of the input
        std::size_t length = 0;
        bool last = false;
    };

    archive* writer = archive_write_new();
    int fd = -1;

    std::string current;     // the piece being filled, on the caller's thread
    std::string dictionary;  // the end of the last piece handed on, on the caller's thread
    std::size_t next_number = 0;

    std::mutex mutex;
    std::condition_variable filled;                   // a piece to compress, or closing
    std::condition_variable drained;                  // room for another piece, or a failure
    std::deque<std::pair<std::size_t, Piece>> queue;  // numbered pieces to compress
    std::map<std::size_t, Compressed> compressed;     // waiting for their turn
    std::size_t next_to_write = 0;
    std::size_t in_flight = 0;
    bool closing = false;
    std::string failure;  // the first; the writer stops at the next piece
    std::mutex write_turn;
    uLong crc = crc32(0, nullptr, 0);  // of the pieces written, under write_turn
    std::uint32_t length = 0;          // of the pieces written, modulo 2^32, under write_turn
    std::vector<std::thread> compressors;

    ~Handle()
    {
        stop();
        archive_write_free(writer);
    }

    void start()
    {
        for (std::size_t i = 0; i < compressor_count; ++i)
            compressors.emplace_back([this] { compress(); });
    }

    void stop()
    {
        {
            const std::lock_guard lock(mutex);
            closing = true;
        }
        filled.notify_all();
        for (auto& compressor : compressors)
            if (compressor.joinable()) compressor.join();
    }

    // Hands `input` to the compressors; false after a failure.
    bool submit(std::string input, bool last)
    {
        Piece piece{std::move(input), dictionary, last};
        // Only the last piece can be shorter than the window, and nothing follows it.
        dictionary =
            piece.input.substr(piece.input.size() - std::min(piece.input.size(), dictionary_size));
        std::unique_lock lock(mutex);
        drained.wait(lock, [&] { return in_flight < pieces_at_most || !failure.empty(); });
        if (!failure.empty()) return false;
        queue.emplace_back(next_number++, std::move(piece));
        ++in_flight;
        lock.unlock();
        filled.notify_one();
        return true;
    }

    // The last piece, once libarchive has written the end of the archive.
    bool submit_last() { return submit(std::exchange(current, {}), true); }

    // libarchive's write callback: fills the current piece and hands full ones on.
    static la_ssize_t write(archive* handle, void* self, const void* buffer, std::size_t length)
    {
        auto* writer = static_cast<Handle*>(self);
        writer->current.append(static_cast<const char*>(buffer), length);
        while (writer->current.size() >= piece_size) {
            std::string rest = writer->current.substr(piece_size);
            writer->current.resize(piece_size);
            if (!writer->submit(std::exchange(writer->current, std::move(rest)), false)) {
                const std::lock_guard lock(writer->mutex);
                archive_set_error(handle, EIO, "%s", writer->failure.c_str());
                return -1;
            }
        }
        return static_cast<la_ssize_t>(length);
    }

    void fail(std::string message)
    {
        {
            const std::lock_guard lock(mutex);
            if (failure.empty()) failure = std::move(message);
        }
        drained.notify_all();
    }

    bool write_out(std::string_view bytes)
    {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const auto written = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) {
                fail(fmt::format("write failed: {}", std::strerror(errno)));
                return false;
            }
            done += static_cast<std::size_t>(written);
        }
        return true;
    }

    // A compressor thread's deflate state and output buffer, made once and reset per piece.
    struct Deflater {
        z_stream stream{};
        bool ready = false;
        std::vector<char> output;

        Deflater()
        {
            // -15: raw deflate with a 32 KiB window, the gzip wrapper written around all
            // pieces; zlib's default level, as gzip's.
            ready = deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                                 Z_DEFAULT_STRATEGY) == Z_OK;
        }
        Deflater(const Deflater&) = delete;
        Deflater& operator=(const Deflater&) = delete;
        ~Deflater()
        {
            if (ready) deflateEnd(&stream);
        }

        // One piece, ending on a byte boundary, or ending the stream when it is the last.
        std::optional<Compressed> deflate_piece(const Piece& piece)
        {
            if (!ready || deflateReset(&stream) != Z_OK) return std::nullopt;
            const auto* dictionary = reinterpret_cast<const Bytef*>(piece.dictionary.data());
            if (!piece.dictionary.empty() &&
                deflateSetDictionary(&stream, dictionary,
                                     static_cast<uInt>(piece.dictionary.size())) != Z_OK)
                return std::nullopt;
            // Room for everything and the flush's marker, so that one call does it all.
            output.resize(std::max<std::size_t>(
                output.size(), deflateBound(&stream, static_cast<uLong>(piece.input.size())) + 16));
            stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.input.data()));
            stream.avail_in = static_cast<uInt>(piece.input.size());
            stream.next_out = reinterpret_cast<Bytef*>(output.data());
            stream.avail_out = static_cast<uInt>(output.size());
            const int rc = deflate(&stream, piece.last ? Z_FINISH : Z_SYNC_FLUSH);
            const bool ok = piece.last ? rc == Z_STREAM_END
                                       : rc == Z_OK && stream.avail_in == 0 && stream.avail_out > 0;
            if (!ok) return std::nullopt;
            Compressed out{std::string(output.data(), output.size() - stream.avail_out),
                           crc32(0, nullptr, 0), piece.input.size(), piece.last};
            out.crc = crc32(out.crc, reinterpret_cast<const Bytef*>(piece.input.data()),
                            static_cast<uInt>(piece.input.size()));
            return out;
        }
    };

    // The gzip header (no name, no time; RFC 1952), before the first piece.
    bool write_header() { return write_out(std::string_view("\x1f\x8b\x08\0\0\0\0\0\0\x03", 10)); }

    // The gzip trailer, after the last piece: CRC-32 and length, little-endian.
    bool write_trailer()
    {
        char trailer[8];
        for (int i = 0; i < 4; ++i) {
            trailer[i] = static_cast<char>((crc >> (8 * i)) & 0xff);
            trailer[4 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
        }
        return write_out({trailer, sizeof trailer});
    }

    // Writes the compressed pieces whose turn has come, one thread at a time.
    void write_in_turn()
    {
        const std::lock_guard turn(write_turn);
        for (;;) {
            Compressed piece;
            std::size_t number = 0;
            bool failed = false;
            {
                const std::lock_guard lock(mutex);
                const auto next = compressed.find(next_to_write);
                if (next == compressed.end()) return;
                number = next->first;
                piece = std::move(next->second);
                compressed.erase(next);
                failed = !failure.empty();
            }
            if (!failed && (number > 0 || write_header()) && write_out(piece.output)) {
                crc = crc32_combine(crc, piece.crc, static_cast<z_off_t>(piece.length));
                length += static_cast<std::uint32_t>(piece.length);
                if (piece.last) write_trailer();
            }
            {
                const std::lock_guard lock(mutex);
                ++next_to_write;
                --in_flight;
            }
            drained.notify_all();
        }
    }

    // A compressor thread: takes pieces until the writer closes and none is left.
    void compress()
    {
        Deflater deflater;
        for (;;) {
            std::unique_lock lock(mutex);
            filled.wait(lock, [&] { return !queue.empty() || closing; });
            if (queue.empty()) return;
            auto [number, piece] = std::move(queue.front());
            queue.pop_front();
            const bool failed = !failure.empty();
            lock.unlock();
            Compressed out;
            if (!failed) {
                if (auto done = deflater.deflate_piece(piece))
                    out = std::move(*done);
                else
                    fail("gzip failed (zlib)");
            }
            {
                const std::lock_guard relock(mutex);
                compressed.emplace(number, std::move(out));
            }
            write_in_turn();
        }
    }
};

ArchiveWriter::ArchiveWriter(int fd, std::string name, bool raw_names)
    : m_handle(std::make_unique<Handle>()), m_name(std::move(name))
{
    auto* writer = m_handle->writer;
    m_handle->fd = fd;
    if (writer == nullptr || archive_write_set_format_pax_restricted(writer) != ARCHIVE_OK ||
        // SCHILY.xattr only: GNU tar knows it and lists the archive without a warning.
        archive_write_set_format_option(writer, "pax", "xattrheader", "SCHILY") < ARCHIVE_WARN ||
        (raw_names &&
         archive_write_set_format_option(writer, "pax", "hdrcharset", "BINARY") < ARCHIVE_WARN) ||
        archive_write_set_bytes_per_block(writer, 64 * 1024) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(writer, 1) != ARCHIVE_OK ||
        archive_write_open2(writer, m_handle.get(), nullptr, &Handle::write, nullptr, nullptr) !=
            ARCHIVE_OK)
        throw Error(Exit::io, "{}: cannot start the archive: {}", m_name,
                    writer ? archive_message(writer) : "out of memory");
    m_handle->start();
}

ArchiveWriter::~ArchiveWriter() = default;

void ArchiveWriter::begin(const ArchiveMember& member)
{
    EntryHandle entry;
    archive_entry_set_pathname(entry.entry, member.path.c_str());
    archive_entry_set_filetype(entry.entry, AE_IFREG);
    archive_entry_set_perm(entry.entry, static_cast<mode_t>(member.mode & 07777));
    archive_entry_set_size(entry.entry, static_cast<la_int64_t>(member.size));
    archive_entry_set_mtime(entry.entry, static_cast<time_t>(member.mtime_ns / 1'000'000'000),
                            static_cast<long>(member.mtime_ns % 1'000'000'000));
    if (!member.sha256.empty())
        archive_entry_xattr_add_entry(entry.entry, sha256_attribute, member.sha256.data(),
                                      member.sha256.size());
    if (archive_write_header(m_handle->writer, entry.entry) != ARCHIVE_OK)
        throw Error(Exit::io, "{}: cannot add {}: {}", m_name, member.path,
                    archive_message(m_handle->writer));
}

void ArchiveWriter::write(std::string_view bytes)
{
    while (!bytes.empty()) {
        const auto written = archive_write_data(m_handle->writer, bytes.data(), bytes.size());
        if (written <= 0)
            throw Error(Exit::io, "{}: write failed: {}", m_name,
                        archive_message(m_handle->writer));
        bytes.remove_prefix(static_cast<std::size_t>(written));
    }
}

void ArchiveWriter::finish()
{
    if (archive_write_close(m_handle->writer) != ARCHIVE_OK)
        throw Error(Exit::io, "{}: cannot finish the archive: {}", m_name,
                    archive_message(m_handle->writer));
    m_handle->submit_last();
    m_handle->stop();
    if (!m_handle->failure.empty()) throw Error(Exit::io, "{}: {}", m_name, m_handle->failure);
}

struct ArchiveReader::Handle {
    archive* reader = archive_read_new();
    int fd = -1;
    std::vector<char> buffer = std::vector<char>(1 << 18);
    Sha256 digest;
    std::uint64_t bytes = 0;
    int read_errno = 0;
    bool at_end = false;
    ~Handle() { archive_read_free(reader); }

    static la_ssize_t read(archive*, void* self, const void** data)
    {
        auto* handle = static_cast<Handle*>(self);
        for (;;) {
            const auto got = ::read(handle->fd, handle->buffer.data(), handle->buffer.size());
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) {
                handle->read_errno = errno;
                return -1;
            }
            *data = handle->buffer.data();
            handle->digest.update({handle->buffer.data(), static_cast<std::size_t>(got)});
            handle->bytes += static_cast<std::uint64_t>(got);
            return got;
        }
    }
};

ArchiveReader::ArchiveReader(int fd, std::string name)
    : m_handle(std::make_unique<Handle>()), m_name(std::move(name))
{
    auto* reader = m_handle->reader;
    m_handle->fd = fd;
    if (reader == nullptr || archive_read_support_filter_gzip(reader) != ARCHIVE_OK ||
        archive_read_support_format_tar(reader) != ARCHIVE_OK ||
        archive_read_open(reader, m_handle.get(), nullptr, &Handle::read, nullptr) != ARCHIVE_OK)
        throw Error(m_handle->read_errno ? Exit::io : Exit::data, "{}: not a tar.gz archive: {}",
                    m_name, reader ? archive_message(reader) : "out of memory");
}

ArchiveReader::~ArchiveReader() = default;

bool ArchiveReader::next(ArchiveMember& member)
{
    archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(m_handle->reader, &entry);
    if (rc == ARCHIVE_EOF) {
        // Read to the end of the file, so that the digest covers every byte of it.
        m_handle->at_end = true;
        const void* data = nullptr;
        while (Handle::read(m_handle->reader, m_handle.get(), &data) > 0) {
        }
        if (m_handle->read_errno)
            throw Error(Exit::io, "{}: read failed: {}", m_name,
                        std::strerror(m_handle->read_errno));
        return false;
    }
    if (rc != ARCHIVE_OK)
        throw Error(m_handle->read_errno ? Exit::io : Exit::data, "{}: damaged archive: {}", m_name,
                    archive_message(m_handle->reader));
    if (archive_entry_filetype(entry) != AE_IFREG)
        throw Error(Exit::data, "{}: member {} is not a regular file", m_name,
                    archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "?");
    member.path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    member.size = static_cast<std::uint64_t>(archive_entry_size(entry));
    member.mtime_ns = static_cast<std::int64_t>(archive_entry_mtime(entry)) * 1'000'000'000 +
                      archive_entry_mtime_nsec(entry);
    member.mode = static_cast<std::uint32_t>(archive_entry_perm(entry));
    member.sha256.clear();
    archive_entry_xattr_reset(entry);
    const char* key = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    while (archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK)
        if (key && std::strcmp(key, sha256_attribute) == 0)
            member.sha256.assign(static_cast<const char*>(value), size);
    return true;
}

void ArchiveReader::read_data(const std::function<void(std::string_view)>& sink)
{
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
        const int rc = archive_read_data_block(m_handle->reader, &block, &size, &offset);
        if (rc == ARCHIVE_EOF) return;
        if (rc != ARCHIVE_OK)
            throw Error(m_handle->read_errno ? Exit::io : Exit::data, "{}: damaged archive: {}",
                        m_name, archive_message(m_handle->reader));
        sink({static_cast<const char*>(block), size});
    }
}

std::string ArchiveReader::file_sha256()
{
    if (!m_handle->at_end) throw Error(Exit::software, "{}: archive not read to the end", m_name);
    return m_handle->digest.hex_digest();
}

std::uint64_t ArchiveReader::bytes_read() const
{
    return m_handle->bytes;
}

}  // namespace common
