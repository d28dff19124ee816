#include "common/archive.hpp"

#include "common/digest.hpp"
#include "common/error.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unistd.h>
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

// libarchive formats the tar stream on the caller's thread; gzip runs on a thread of its own,
// as `tar | gzip` would, so that reading, hashing and formatting overlap the compression.
struct ArchiveWriter::Handle {
    archive* writer = archive_write_new();
    int fd = -1;
    std::string name;

    std::mutex mutex;
    std::condition_variable filled;
    std::condition_variable drained;
    std::deque<std::string> queue;
    std::size_t queued_bytes = 0;
    bool closing = false;
    std::string failure;  // set by the compressor; the writer stops at the next block
    std::thread compressor;

    ~Handle()
    {
        stop();
        archive_write_free(writer);
    }

    void stop()
    {
        {
            const std::lock_guard lock(mutex);
            closing = true;
        }
        filled.notify_all();
        if (compressor.joinable()) compressor.join();
    }

    // libarchive's write callback: hands a block of tar to the compressor.
    static la_ssize_t write(archive* handle, void* self, const void* buffer, std::size_t length)
    {
        auto* writer = static_cast<Handle*>(self);
        std::unique_lock lock(writer->mutex);
        writer->drained.wait(
            lock, [&] { return writer->queued_bytes < queue_limit || !writer->failure.empty(); });
        if (!writer->failure.empty()) {
            archive_set_error(handle, EIO, "%s", writer->failure.c_str());
            return -1;
        }
        writer->queue.emplace_back(static_cast<const char*>(buffer), length);
        writer->queued_bytes += length;
        lock.unlock();
        writer->filled.notify_one();
        return static_cast<la_ssize_t>(length);
    }

    void fail(std::string message)
    {
        {
            const std::lock_guard lock(mutex);
            if (failure.empty()) failure = std::move(message);
            queue.clear();
            queued_bytes = 0;
        }
        drained.notify_all();
    }

    bool write_out(const unsigned char* bytes, std::size_t length)
    {
        while (length > 0) {
            const auto written = ::write(fd, bytes, length);
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) {
                fail(fmt::format("write failed: {}", std::strerror(errno)));
                return false;
            }
            bytes += written;
            length -= static_cast<std::size_t>(written);
        }
        return true;
    }

    // The compressor thread: gzip (zlib's default level, as gzip's) of every block, in order.
    void compress()
    {
        z_stream stream{};
        // 15 + 16: a gzip wrapper, with no name and no time in its header.
        if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            fail("cannot start gzip (zlib)");
            return;
        }
        std::vector<unsigned char> out(1 << 17);
        const auto deflate_all = [&](std::string* block, int flush) {
            stream.next_in = block ? reinterpret_cast<unsigned char*>(block->data()) : nullptr;
            stream.avail_in = block ? static_cast<uInt>(block->size()) : 0;
            int rc = Z_OK;
            do {
                stream.next_out = out.data();
                stream.avail_out = static_cast<uInt>(out.size());
                rc = deflate(&stream, flush);
                if (rc == Z_STREAM_ERROR) {
                    fail("gzip failed (zlib)");
                    return false;
                }
                if (!write_out(out.data(), out.size() - stream.avail_out)) return false;
            } while (stream.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
            return true;
        };
        bool ok = true;
        for (;;) {
            std::unique_lock lock(mutex);
            filled.wait(lock, [&] { return !queue.empty() || closing; });
            if (queue.empty()) break;
            auto block = std::move(queue.front());
            queue.pop_front();
            queued_bytes -= block.size();
            lock.unlock();
            drained.notify_one();
            if (ok && !(ok = deflate_all(&block, Z_NO_FLUSH))) continue;
        }
        if (ok) deflate_all(nullptr, Z_FINISH);
        deflateEnd(&stream);
    }

    static constexpr std::size_t queue_limit = 8u << 20;
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
    m_handle->compressor = std::thread([handle = m_handle.get()] { handle->compress(); });
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
