#include "archiver.hpp"

#include "common/archive.hpp"
#include "common/atomic_file.hpp"
#include "common/digest.hpp"
#include "common/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

namespace evidence_prune {
namespace {

using common::Error;
using common::Exit;
using common::UniqueFd;

// Files up to this size are read once into memory (hashed, then archived); larger ones are
// read twice, so that the digest is in the member's header before its content.
constexpr std::uint64_t in_memory_limit = 8ull << 20;

bool read_all(int fd, std::string& content, std::uint64_t expected)
{
    content.resize(expected + 1);
    std::size_t got = 0;
    for (;;) {
        const auto n = ::read(fd, content.data() + got, content.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
        if (got == content.size()) break;
    }
    content.resize(got);
    return true;
}

// Copies `fd` into `sink` in chunks; returns the number of bytes.
std::uint64_t stream(int fd, const std::function<void(std::string_view)>& sink)
{
    std::vector<char> buffer(1 << 18);
    std::uint64_t total = 0;
    for (;;) {
        const auto n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(Exit::io, "read failed: {}", std::strerror(errno));
        if (n == 0) return total;
        sink({buffer.data(), static_cast<std::size_t>(n)});
        total += static_cast<std::uint64_t>(n);
    }
}

// The members' checksums, in sha256sum's format (GNU escaping for '\\' and newlines), so that
// an operator who extracts an archive can check it with `sha256sum -c`.
std::string manifest_line(const std::string& sha256, const std::string& path)
{
    if (path.find_first_of("\\\n") == std::string::npos) return sha256 + "  " + path + "\n";
    std::string escaped;
    for (const char c : path) {
        if (c == '\\')
            escaped += "\\\\";
        else if (c == '\n')
            escaped += "\\n";
        else
            escaped.push_back(c);
    }
    return "\\" + sha256 + "  " + escaped + "\n";
}

}  // namespace

std::map<std::string, std::string> parse_manifest(std::string_view text, const std::string& archive)
{
    std::map<std::string, std::string> checksums;
    while (!text.empty()) {
        const auto end = text.find('\n');
        auto line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        const bool escaped = !line.empty() && line.front() == '\\';
        if (escaped) line.remove_prefix(1);
        if (line.size() < 66 || line.substr(64, 2) != "  ")
            throw Error(Exit::data, "{}: malformed checksum list", archive);
        std::string path;
        for (std::size_t i = 66; i < line.size(); ++i) {
            if (escaped && line[i] == '\\' && i + 1 < line.size()) {
                path.push_back(line[i + 1] == 'n' ? '\n' : line[i + 1]);
                ++i;
            } else {
                path.push_back(line[i]);
            }
        }
        checksums[path] = std::string(line.substr(0, 64));
    }
    return checksums;
}

namespace {

bool same_file(const struct stat& status, const FileRecord& file)
{
    return S_ISREG(status.st_mode) && static_cast<std::uint64_t>(status.st_size) == file.size &&
           common::to_ns(status.st_mtim.tv_sec, status.st_mtim.tv_nsec) == file.mtime_ns &&
           status.st_ino == file.inode;
}

// A temporary file in a folder of the tree, removed unless released.
struct TemporaryFile {
    int directory = -1;
    std::string name;
    bool armed = false;
    ~TemporaryFile()
    {
        if (armed) ::unlinkat(directory, name.c_str(), 0);
    }

    // Creates the temporary for `target` (mode 0600). Throws as common::system_error(),
    // naming `shown`.
    UniqueFd create(std::string_view target, const std::string& shown)
    {
        auto [fd, temporary] = common::create_temporary_at(directory, target, 0600, shown);
        name = std::move(temporary);
        armed = true;
        return UniqueFd(fd);
    }
};

}  // namespace

namespace {

// Names outside ASCII go in as raw bytes: libarchive cannot convert them in every locale.
bool has_raw_names(const std::vector<FileRecord>& files)
{
    return std::any_of(files.begin(), files.end(), [](const FileRecord& file) {
        return std::any_of(file.path.begin(), file.path.end(),
                           [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    });
}

// Copies the open file into the archive under `header`; returns its SHA-256. Files up to
// in_memory_limit are read once into `buffer`, larger ones streamed.
std::string copy_content(common::ArchiveWriter& writer, int in, const common::ArchiveMember& header,
                         std::string& buffer, const std::string& what)
{
    if (header.size <= in_memory_limit) {
        if (!read_all(in, buffer, header.size))
            throw common::system_error(errno, "cannot read " + what);
        if (buffer.size() != header.size)
            throw Error(Exit::io, "{} changed while it was archived", what);
        writer.begin(header);
        writer.write(buffer);
        return common::sha256_hex(buffer);
    }
    writer.begin(header);
    common::Sha256 digest;
    const auto copied = stream(in, [&](std::string_view bytes) {
        digest.update(bytes);
        writer.write(bytes);
    });
    if (copied != header.size) throw Error(Exit::io, "{} changed while it was archived", what);
    return digest.hex_digest();
}

// Adds `file` as a member; nullopt (nothing written) when it is gone or no longer the file
// listed. Throws Error 74 when it changes while it is read.
std::optional<Member> add_member(common::ArchiveWriter& writer, common::FolderCache& folders,
                                 const FileRecord& file, const std::string& what,
                                 std::string& buffer)
{
    UniqueFd in;
    try {
        in = folders.open_file(file.path);
    } catch (const Error&) {
        return std::nullopt;
    }
    struct stat status {};
    if (::fstat(in.get(), &status) != 0 || !same_file(status, file)) return std::nullopt;
    Member member{file, {}};
    member.file.mode = status.st_mode & 07777;
    const common::ArchiveMember header{.path = file.path,
                                       .size = file.size,
                                       .mtime_ns = file.mtime_ns,
                                       .mode = member.file.mode,
                                       .sha256 = {}};
    member.sha256 = copy_content(writer, in.get(), header, buffer, what);
    // A file written to while we read it would be archived half old, half new.
    if (::fstat(in.get(), &status) != 0 || !same_file(status, file))
        throw Error(Exit::io, "{} changed while it was archived", what);
    return member;
}

// Gives the finished archive its evidence time as mtime (for runs without a database),
// flushes it unless deferred, and renames it into place without replacing anything.
void put_into_place(int out, TemporaryFile& temporary, std::string_view name,
                    const std::string& shown, std::int64_t mtime_ns, Flush flush)
{
    const timespec times[2] = {{0, UTIME_OMIT},
                               {static_cast<time_t>(mtime_ns / 1'000'000'000),
                                static_cast<long>(mtime_ns % 1'000'000'000)}};
    if (::futimens(out, times) != 0 || (flush == Flush::each && ::fsync(out) != 0))
        throw common::system_error(errno, "cannot write " + shown);
    if (const int error = common::rename_without_replacing_at(
            temporary.directory, temporary.name, temporary.directory, std::string(name)))
        throw common::system_error(error, "cannot rename the archive into place as " + shown);
    temporary.armed = false;
    if (flush == Flush::each && ::fsync(temporary.directory) != 0)
        throw common::system_error(errno, "cannot flush " + shown);
}

}  // namespace

struct ArchiveTail::Parts {
    UniqueFd directory;
    TemporaryFile temporary;
    UniqueFd out;
    std::unique_ptr<common::ArchiveWriter> writer;  // after the files: stopped before they close
    std::string name;
    std::string shown;
    std::int64_t mtime_ns = 0;
};

ArchiveTail::ArchiveTail(std::unique_ptr<Parts> parts) : m_parts(std::move(parts)) {}

ArchiveTail::~ArchiveTail() = default;

void ArchiveTail::finish(Flush flush)
{
    auto& parts = *m_parts;
    try {
        parts.writer->finish();
        put_into_place(parts.out.get(), parts.temporary, parts.name, parts.shown, parts.mtime_ns,
                       flush);
    } catch (const Error& error) {
        if (parts.temporary.armed) throw ArchiveNotWritten(error.code(), error.what());
        throw;
    }
}

std::pair<WrittenArchive, std::unique_ptr<ArchiveTail>>
begin_archive(const common::TreeRoot& root, const std::string& archive,
              const std::vector<FileRecord>& files)
{
    const auto [folder, name] = common::split_parent(archive);
    auto parts = std::make_unique<ArchiveTail::Parts>();
    parts->directory = root.open_directory(folder);
    parts->name = std::string(name);
    parts->shown = (root.path() / archive).string();
    if (root.stat(archive))
        throw Error(Exit::cant_create, "{} exists; not replacing it", parts->shown);
    parts->temporary.directory = parts->directory.get();
    parts->out = parts->temporary.create(name, parts->shown);

    WrittenArchive written;
    parts->writer = std::make_unique<common::ArchiveWriter>(parts->out.get(), parts->shown,
                                                            has_raw_names(files));
    auto& writer = *parts->writer;
    std::string buffer;
    std::string manifest;
    common::FolderCache folders(root);
    for (const auto& file : files) {
        auto member = add_member(writer, folders, file, (root.path() / file.path).string(), buffer);
        if (!member) {
            written.changed.push_back(file);
            continue;
        }
        manifest += manifest_line(member->sha256, file.path);
        written.bytes_before += file.size;
        written.newest_mtime_ns = std::max(written.newest_mtime_ns, file.mtime_ns);
        written.members.push_back(std::move(*member));
    }
    if (written.members.empty()) return {std::move(written), nullptr};
    writer.begin({.path = std::string(manifest_name),
                  .size = manifest.size(),
                  .mtime_ns = written.newest_mtime_ns,
                  .mode = 0600,
                  .sha256 = {}});
    writer.write(manifest);
    parts->mtime_ns = written.newest_mtime_ns;
    return {std::move(written), std::make_unique<ArchiveTail>(std::move(parts))};
}

WrittenArchive write_archive(const common::TreeRoot& root, const std::string& archive,
                             const std::vector<FileRecord>& files, Flush flush)
{
    auto [written, tail] = begin_archive(root, archive, files);
    if (tail) tail->finish(flush);
    return std::move(written);
}

void flush_archives(const common::TreeRoot& root, const std::string& folder)
{
    const auto directory = root.open_directory(folder);
    const auto shown = (root.path() / folder).string();
    // One syncfs writes every dirty archive and commits the journal once; an fsync per archive
    // would commit it once per archive.
    if (::syncfs(directory.get()) != 0 || ::fsync(directory.get()) != 0)
        throw common::system_error(errno, "cannot flush the archives in " + shown);
}

std::pair<std::vector<Member>, VerifiedArchive> read_archive(const common::TreeRoot& root,
                                                             const std::string& archive)
{
    const auto shown = (root.path() / archive).string();
    const auto in = root.open_file(archive);
    common::ArchiveReader reader(in.get(), shown);
    std::vector<Member> members;
    std::optional<std::map<std::string, std::string>> checksums;
    common::ArchiveMember header;
    while (reader.next(header)) {
        common::Sha256 digest;
        std::string text;
        std::uint64_t size = 0;
        const bool is_manifest = header.path == manifest_name;
        reader.read_data([&](std::string_view bytes) {
            digest.update(bytes);
            size += bytes.size();
            if (is_manifest) text += bytes;
        });
        if (size != header.size)
            throw Error(Exit::data, "{}: member {} is cut short", shown, header.path);
        if (is_manifest) {
            checksums = parse_manifest(text, shown);
            continue;
        }
        members.push_back({FileRecord{.path = header.path,
                                      .size = header.size,
                                      .mtime_ns = header.mtime_ns,
                                      .inode = 0,
                                      .mode = header.mode},
                           digest.hex_digest()});
    }
    if (!checksums)
        throw ForeignArchive(Exit::data, "{}: no checksum list ({})", shown, manifest_name);
    for (const auto& member : members) {
        const auto found = checksums->find(member.file.path);
        if (found == checksums->end() || found->second != member.sha256)
            throw Error(Exit::data, "{}: member {} does not match its recorded SHA-256", shown,
                        member.file.path);
    }
    VerifiedArchive verified{reader.file_sha256(), reader.bytes_read()};
    return {std::move(members), verified};
}

VerifiedArchive verify_archive(const common::TreeRoot& root, const std::string& archive,
                               const std::vector<Member>& members)
{
    const auto shown = (root.path() / archive).string();
    const auto in = root.open_file(archive);
    common::ArchiveReader reader(in.get(), shown);
    common::ArchiveMember header;
    std::size_t index = 0;
    std::optional<std::map<std::string, std::string>> checksums;
    while (reader.next(header)) {
        if (index == members.size() && header.path == manifest_name && !checksums) {
            std::string text;
            reader.read_data([&](std::string_view bytes) { text += bytes; });
            checksums = parse_manifest(text, shown);
            continue;
        }
        if (index >= members.size() || checksums)
            throw Error(Exit::data, "{}: unexpected member {}", shown, header.path);
        const auto& expected = members[index++];
        common::Sha256 digest;
        std::uint64_t size = 0;
        reader.read_data([&](std::string_view bytes) {
            digest.update(bytes);
            size += bytes.size();
        });
        if (header.path != expected.file.path)
            throw Error(Exit::data, "{}: member {} where {} was written", shown, header.path,
                        expected.file.path);
        if (size != expected.file.size || header.size != expected.file.size)
            throw Error(Exit::data, "{}: {} holds {} bytes, the original {}", shown, header.path,
                        size, expected.file.size);
        if (digest.hex_digest() != expected.sha256)
            throw Error(Exit::data, "{}: {} does not match the original's SHA-256", shown,
                        header.path);
    }
    if (index != members.size())
        throw Error(Exit::data, "{}: {} is missing", shown, members[index].file.path);
    if (!checksums || checksums->size() != members.size())
        throw Error(Exit::data, "{}: the checksum list is missing or incomplete", shown);
    for (const auto& member : members) {
        const auto found = checksums->find(member.file.path);
        if (found == checksums->end() || found->second != member.sha256)
            throw Error(Exit::data, "{}: the checksum list is wrong for {}", shown,
                        member.file.path);
    }
    struct stat status {};
    if (::fstat(in.get(), &status) != 0) throw common::system_error(errno, shown);
    if (static_cast<std::uint64_t>(status.st_size) != reader.bytes_read())
        throw Error(Exit::data, "{}: {} bytes on disk, {} read", shown, status.st_size,
                    reader.bytes_read());
    return {reader.file_sha256(), reader.bytes_read()};
}

}  // namespace evidence_prune
