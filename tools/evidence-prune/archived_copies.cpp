#include "pruner.hpp"

namespace evidence_prune::pruning {

namespace {

constexpr std::int64_t second_ns = 1'000'000'000;

// Whether `file` is still the one listed and holds exactly the bytes of `member`.
bool holds_member(common::FolderCache& folders, const FileRecord& file, const Member& member)
{
    if (member.file.size != file.size) return false;
    const auto info = folders.stat(file.path);
    if (!info || !same_file(*info, file)) return false;
    const auto in = folders.open_file(file.path);
    return common::sha256_fd(in.get()) == member.sha256;
}

}  // namespace

// The members of the spec's archives that may hold one of the files listed: an archive whose
// newest member is older than every file listed cannot, and one purged in this run does not
// count. An archive that does not verify (or differs from its record) holds nothing for sure.
std::map<std::string, Pruner::HeldMember>
Pruner::archived_members(const std::string& spec, std::int64_t oldest_ns,
                         const std::vector<const ArchiveFile*>& due_archives)
{
    std::map<std::string, HeldMember> held;
    const auto archives = m_archives.find(spec);
    if (archives == m_archives.end()) return held;
    for (const auto& archive : archives->second) {
        if (archive.evidence_ns / second_ns < oldest_ns / second_ns ||
            std::find(due_archives.begin(), due_archives.end(), &archive) != due_archives.end())
            continue;
        try {
            auto [members, verified] = read_archive(m_root, archive.path);
            const auto recorded = m_recorded.find(archive.path);
            if (recorded != m_recorded.end() && !recorded->second.sha256.empty() &&
                recorded->second.sha256 != verified.sha256)
                continue;
            for (auto& member : members) {
                auto path = member.file.path;
                held.emplace(std::move(path), HeldMember{archive.path, std::move(member)});
            }
        } catch (const Error&) {
        }
    }
    return held;
}

std::vector<FileRecord>
Pruner::drop_archived_copies(const std::string& spec, std::vector<FileRecord> files,
                             const std::vector<const ArchiveFile*>& due_archives)
{
    if (files.empty()) return files;
    const auto oldest =
        std::min_element(files.begin(), files.end(), [](const auto& a, const auto& b) {
            return a.mtime_ns < b.mtime_ns;
        })->mtime_ns;
    const auto held = archived_members(spec, oldest, due_archives);
    if (held.empty()) return files;
    std::vector<FileRecord> left;
    common::FolderCache folders(m_root);
    for (auto& file : files) {
        const auto found = held.find(file.path);
        bool copy = false;
        try {
            copy = found != held.end() && holds_member(folders, file, found->second.member);
        } catch (const Error&) {
        }
        if (copy)
            remove_archived_copy(spec, file, found->second.archive, folders);
        else
            left.push_back(std::move(file));
    }
    return left;
}

// An original whose exact bytes an archive already holds: removed like an archived original,
// never archived again (an original that cannot be removed would otherwise be archived anew on
// every run).
void Pruner::remove_archived_copy(const std::string& spec, const FileRecord& file,
                                  const std::string& archive, common::FolderCache& folders)
{
    Json line{{"action", "clean"}, {"spec", spec}};
    put_path(line, file.path);
    line["archive"] = archive;
    line["reason"] = "already archived with the same bytes; not archived again";
    if (changes()) {
        try {
            folders.remove_file(file.path);
            line["ok"] = true;
            m_bytes_reclaimed += signed_bytes(file.size);
            m_spec_bytes[spec] -= signed_bytes(file.size);
        } catch (const Error& error) {
            fail(line, error);
        }
    }
    emit(line);
    explain(fmt::format("{}: remove {}: already in {} with the same bytes", spec,
                        common::sanitize_utf8(file.path), archive));
}

}  // namespace evidence_prune::pruning
