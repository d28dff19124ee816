#include "restore.hpp"

#include "pruner.hpp"

#include "common/archive.hpp"
#include "common/atomic_file.hpp"
#include "common/digest.hpp"
#include "common/error.hpp"
#include "common/spec_id.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace evidence_prune {
namespace {

using common::Error;
using common::Exit;
using common::UniqueFd;

// True when `path` lies in a spec's folder: commands/<SPEC-folder>/... or consensus/....
bool in_a_spec_folder(std::string_view path)
{
    if (!common::is_safe_relative(path)) return false;
    const auto first = path.find('/');
    if (first == std::string_view::npos) return false;
    const auto top = path.substr(0, first);
    if (top != "commands" && top != "consensus") return false;
    const auto second = path.find('/', first + 1);
    return second != std::string_view::npos &&
           common::is_spec_folder(path.substr(first + 1, second - first - 1));
}

void write_fully(int fd, std::string_view bytes, const std::string& what)
{
    while (!bytes.empty()) {
        const auto n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw common::system_error(errno, "cannot write " + what);
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// First pass: reads the whole archive and checks every member. Returns path -> SHA-256.
std::map<std::string, std::string> check_archive(const common::TreeRoot& root,
                                                 const std::string& archive_path,
                                                 const UniqueFd& in, bool allow_unverified)
{
    common::ArchiveReader reader(in.get(), archive_path);
    std::map<std::string, std::string> digests;
    std::optional<std::map<std::string, std::string>> checksums;
    common::ArchiveMember header;
    while (reader.next(header)) {
        common::Sha256 digest;
        std::string text;
        std::uint64_t size = 0;
        const bool is_manifest = header.path == manifest_name && !checksums;
        reader.read_data([&](std::string_view bytes) {
            digest.update(bytes);
            size += bytes.size();
            if (is_manifest) text += bytes;
        });
        if (is_manifest) {
            checksums = parse_manifest(text, archive_path);
            continue;
        }
        if (!in_a_spec_folder(header.path))
            throw Error(Exit::data,
                        "{}: member '{}' is not under commands/<SPEC>/ or consensus/<SPEC>/; "
                        "nothing restored",
                        archive_path, header.path);
        if (size != header.size || digests.count(header.path))
            throw Error(Exit::data, "{}: member {} is damaged or repeated; nothing restored",
                        archive_path, header.path);
        if (root.stat(header.path))
            throw Error(Exit::cant_create, "{} exists; --restore never overwrites a file",
                        (root.path() / header.path).string());
        digests[header.path] = digest.hex_digest();
    }
    if (!checksums && !allow_unverified)
        throw Error(Exit::data,
                    "{}: no checksum list ({}): not an archive evidence-prune made; nothing "
                    "restored (--force-unverified restores it anyway)",
                    archive_path, manifest_name);
    if (checksums)
        for (const auto& [path, sha] : digests) {
            const auto found = checksums->find(path);
            if (found == checksums->end() || found->second != sha)
                throw Error(Exit::data,
                            "{}: member {} does not match its recorded SHA-256; nothing restored",
                            archive_path, path);
        }
    return digests;
}

// Writes the current member to `path` (its folders created) under a temporary name, then
// links it into place.
void restore_member(const common::TreeRoot& root, common::ArchiveReader& reader,
                    const common::ArchiveMember& header, const std::string& expected_sha)
{
    const auto [folder, name] = common::split_parent(header.path);
    const auto shown = (root.path() / header.path).string();
    const auto directory = root.open_directory(folder, true);
    auto [fd, temporary] = common::create_temporary_at(directory.get(), name, 0600, shown);
    UniqueFd out(fd);
    struct Remove {
        int folder;
        const std::string& name;
        ~Remove() { ::unlinkat(folder, name.c_str(), 0); }
    } remove{directory.get(), temporary};
    common::Sha256 digest;
    reader.read_data([&](std::string_view bytes) {
        digest.update(bytes);
        write_fully(out.get(), bytes, shown);
    });
    // The archive was read once already; a second read that differs is a changed file.
    if (digest.hex_digest() != expected_sha)
        throw Error(Exit::data, "{} changed while it was restored", shown);
    const timespec times[2] = {{0, UTIME_OMIT},
                               {static_cast<time_t>(header.mtime_ns / 1'000'000'000),
                                static_cast<long>(header.mtime_ns % 1'000'000'000)}};
    if (::fchmod(out.get(), static_cast<mode_t>(header.mode & 0777)) != 0 ||
        ::futimens(out.get(), times) != 0 || ::fsync(out.get()) != 0)
        throw common::system_error(errno, "cannot write " + shown);
    // link() refuses an existing name, symlink or not: nothing is overwritten.
    if (::linkat(directory.get(), temporary.c_str(), directory.get(), std::string(name).c_str(),
                 0) != 0)
        throw common::system_error(errno, "cannot restore " + shown);
    if (::fsync(directory.get()) != 0) throw common::system_error(errno, "cannot flush " + shown);
}

}  // namespace

common::UniqueFd open_archive_file(const std::filesystem::path& archive)
{
    common::UniqueFd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) throw common::system_error(errno, archive.string());
    struct stat status {};
    if (::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode))
        throw Error(Exit::data, "{}: not a regular file; nothing restored", archive.string());
    return fd;
}

void check_restore_archive(const common::TreeRoot& root, const std::filesystem::path& archive,
                           bool allow_unverified)
{
    check_archive(root, archive.string(), open_archive_file(archive), allow_unverified);
}

void remove_restored(const common::TreeRoot& root, const std::vector<Member>& restored)
{
    for (const auto& member : restored) {
        try {
            root.remove_file(member.file.path);
        } catch (const Error&) {
        }
    }
}

RestoreResult restore_archive(const common::TreeRoot& root, const std::string& archive_path,
                              const std::function<UniqueFd()>& open_archive, bool allow_unverified,
                              const std::function<bool(std::size_t restored)>& stop)
{
    const auto digests = check_archive(root, archive_path, open_archive(), allow_unverified);
    RestoreResult result;
    if (stop && stop(0)) return result;
    const auto in = open_archive();
    common::ArchiveReader reader(in.get(), archive_path);
    common::ArchiveMember header;
    try {
        while (reader.next(header)) {
            const auto found = digests.find(header.path);
            if (found == digests.end()) continue;  // the checksum list
            restore_member(root, reader, header, found->second);
            result.restored.push_back({FileRecord{.path = header.path,
                                                  .size = header.size,
                                                  .mtime_ns = header.mtime_ns,
                                                  .inode = 0,
                                                  .mode = header.mode & 0777},
                                       found->second});
            if (stop && stop(result.restored.size())) {
                remove_restored(root, result.restored);
                result.restored.clear();
                return result;
            }
        }
    } catch (const Error&) {
        // All or nothing: what this call put back goes again.
        remove_restored(root, result.restored);
        throw;
    }
    result.sha256 = reader.file_sha256();
    return result;
}

}  // namespace evidence_prune

namespace evidence_prune::pruning {

// An archive of this root's archives/ is checked against its record first.
void Pruner::check_against_record(const std::function<common::UniqueFd()>& open_archive)
{
    const auto& archive = m_options.restore_archive;
    std::error_code ec;
    const auto folder = std::filesystem::weakly_canonical(archive, ec).parent_path();
    const auto relative = fmt::format("{}/{}", archives_folder, archive.filename().string());
    const auto recorded = m_recorded.find(relative);
    if (ec || folder != std::filesystem::weakly_canonical(m_root.path() / archives_folder, ec) ||
        recorded == m_recorded.end() || recorded->second.sha256.empty())
        return;
    const auto fd = open_archive();
    const auto sha = common::sha256_fd(fd.get());
    if (sha != recorded->second.sha256)
        throw Error(Exit::data, "{}: SHA-256 {} differs from the recorded {}; nothing restored",
                    archive.string(), sha, recorded->second.sha256);
}

void Pruner::emit_restored(const RestoreResult& result)
{
    for (const auto& member : result.restored) {
        Json line{{"action", "restore"}};
        put_path(line, member.file.path);
        line["size"] = member.file.size;
        line["sha256"] = member.sha256;
        emit(line);
        explain(fmt::format("restored {}", common::sanitize_utf8(member.file.path)));
    }
}

int Pruner::restore(const common::Stopwatch& watch, common::TimePoint started)
{
    const auto& archive = m_options.restore_archive;
    const auto open_archive = [&] { return open_archive_file(archive); };
    check_against_record(open_archive);
    RestoreResult result;
    if (!stopping())
        result = restore_archive(m_root, archive.string(), open_archive, m_options.force_unverified,
                                 [&](std::size_t restored) {
                                     if (restored > 0 && m_options.crash_hook)
                                         m_options.crash_hook("restored");
                                     return stopping();
                                 });
    Json line{{"tool", "evidence-prune"},
              {"schema_version", 1},
              {"mode", "restore"},
              {"root", m_root.path().string()},
              {"archive", archive.string()},
              {"files_restored", result.restored.size()},
              {"duration_ms", watch.elapsed_ms()}};
    // Recorded before it is reported; a signal before the row is written (during a wait for
    // a busy database too) undoes the restore, so that a restore either stands and is
    // recorded, or leaves the tree as it was.
    const bool recorded = !stopping() && record_run(started, line, false);
    if (recorded || !stopping()) {
        emit_restored(result);
        emit(line);
        return 0;
    }
    remove_restored(m_root, result.restored);
    line["files_restored"] = 0;
    line["interrupted"] = *m_stopped_by == SIGINT ? "SIGINT" : "SIGTERM";
    line["duration_ms"] = watch.elapsed_ms();
    record_run(started, line, true);
    emit(line);
    return 128 + *m_stopped_by;
}

}  // namespace evidence_prune::pruning
