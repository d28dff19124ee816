#include "pruner.hpp"

namespace evidence_prune::pruning {

bool Pruner::has_archive_table() const
{
    return m_db && m_db->table_exists("evidence_archives");
}

void Pruner::load_database_state()
{
    if (!m_db) return;
    m_running = specs_in_flight(*m_db, changes(), m_now, m_options.policy.stale_after);
    if (!has_archive_table()) return;
    // The newest record of each archive path says what it is: archived, or purged already.
    for (auto& known : common::known_archives(*m_db)) {
        RecordedArchive recorded{std::move(known.spec_id), 0, std::move(known.sha256)};
        try {
            recorded.evidence_ns = to_ns(common::parse_time(known.evidence_time));
        } catch (const Error&) {
        }
        try {
            m_made_ns[known.archive_path] = to_ns(common::parse_time(known.created_at));
        } catch (const Error&) {
        }
        m_recorded[known.archive_path] = std::move(recorded);
    }
}

// Past the purge age and the grace since it was made: its row's created_at, else its inode's
// change time (its mtime is the evidence time, set back when it was written).
bool Pruner::archive_purgeable(const std::string& spec, const ArchiveFile& archive)
{
    if (!past_purge_age(archive.evidence_ns, m_options.policy, m_now)) return false;
    const auto made = m_made_ns.find(archive.path);
    const auto made_ns = made != m_made_ns.end()
                             ? made->second
                             : std::max(archive.info.mtime_ns, archive.info.ctime_ns);
    if (archive_due(archive.evidence_ns, made_ns, m_options.policy, m_now)) return true;
    explain(fmt::format(
        "{}: keep {}: made {} ago, within the purge grace of {}", spec,
        common::sanitize_utf8(archive.path),
        age_text(std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::nanoseconds(std::max<std::int64_t>(to_ns(m_now) - made_ns, 0)))),
        age_text(m_options.policy.purge_grace)));
    return false;
}

void Pruner::scan_top_level()
{
    m_root.walk("", [&](const common::TreeEntry& entry) {
        const auto& name = entry.path;
        const bool folder = entry.info.type == EntryType::directory;
        if (name == locks_folder && folder) return false;
        if (name == archives_folder && folder) {
            scan_archives();
            return false;
        }
        if (folder &&
            std::find(spec_folders.begin(), spec_folders.end(), name) != spec_folders.end()) {
            m_root.walk(name, [&](const common::TreeEntry& child) {
                const auto [parent, spec] = common::split_parent(child.path);
                if (child.info.type == EntryType::directory && common::is_spec_folder(spec)) {
                    m_specs.insert(std::string(spec));
                } else if (child.info.type == EntryType::symlink) {
                    report_entry(child.path, "symlink, not followed");
                } else {
                    report_entry(child.path, "unknown entry");
                    if (child.info.type == EntryType::file)
                        m_other_bytes += signed_bytes(child.info.size);
                }
                return false;
            });
            return false;
        }
        report_entry(name, entry.info.type == EntryType::symlink ? "symlink, not followed"
                                                                 : "unknown entry");
        if (entry.info.type == EntryType::file) m_other_bytes += signed_bytes(entry.info.size);
        if (folder)
            m_root.walk(name, [&](const common::TreeEntry& inner) {
                if (inner.info.type == EntryType::file)
                    m_other_bytes += signed_bytes(inner.info.size);
                return true;
            });
        return false;
    });
}

void Pruner::scan_archives()
{
    m_root.walk(archives_folder, [&](const common::TreeEntry& entry) {
        const auto [parent, name] = common::split_parent(entry.path);
        // Only evidence-prune writes here, and this run holds the root: a temporary here was
        // left by one that was killed.
        if (entry.info.type == EntryType::file && common::is_temporary_name(name)) {
            clean_temporary(entry.path, "temporary file of an interrupted run");
            return false;
        }
        if (entry.info.type == EntryType::directory && name == unverified_folder) {
            report_entry(entry.path, "archives that failed verification, moved aside, never "
                                     "deleted");
            return false;
        }
        if (entry.info.type != EntryType::file) {
            report_entry(entry.path, entry.info.type == EntryType::symlink ? "symlink, not followed"
                                                                           : "unknown entry");
            return false;
        }
        ArchiveFile archive{entry.path, entry.info, entry.info.mtime_ns};
        std::string spec;
        if (const auto found = m_recorded.find(entry.path); found != m_recorded.end()) {
            spec = found->second.spec;
            archive.evidence_ns = found->second.evidence_ns;
        } else if (auto parsed = common::spec_of_archive_name(name)) {
            spec = *parsed;
        } else {
            report_entry(entry.path, "unknown entry");
            m_other_bytes += signed_bytes(entry.info.size);
            return false;
        }
        m_specs.insert(spec);
        m_archives[spec].push_back(std::move(archive));
        return false;
    });
}

SpecState Pruner::scan_spec(const std::string& spec, bool quiet)
{
    SpecState state{.spec = spec,
                    .files = {},
                    .is_protected = spec_is_protected(spec),
                    .lock_held = !holds_lock(spec) && spec_is_locked(spec),
                    .running = m_running.count(spec) > 0};
    for (const auto folder : spec_folders) {
        const auto top = fmt::format("{}/{}", folder, spec);
        const auto info = m_root.stat(top);
        if (!info || info->type != EntryType::directory) continue;
        m_root.walk(top, [&](const common::TreeEntry& entry) {
            switch (entry.info.type) {
            case EntryType::directory: return true;
            case EntryType::symlink:
                if (!quiet) report_entry(entry.path, "symlink, not followed");
                break;
            case EntryType::other:
                if (!quiet) report_entry(entry.path, "not a regular file");
                break;
            case EntryType::file:
                if (common::is_temporary_name(common::split_parent(entry.path).second)) {
                    state.temporaries.push_back(record_of(entry));
                    break;
                }
                if (!quiet) {
                    ++m_files_seen;
                    progress(spec);
                }
                state.files.push_back(record_of(entry));
                break;
            }
            return false;
        });
    }
    return state;
}

bool Pruner::spec_is_protected(const std::string& spec) const
{
    return std::find(m_options.protect.begin(), m_options.protect.end(), spec) !=
           m_options.protect.end();
}

bool Pruner::spec_is_locked(const std::string& spec) const
{
    // A holder that cannot be told counts as a holder.
    return common::FileLock::probe(m_root.path() / locks_folder / (spec + ".lock")) !=
           common::LockState::free;
}

void Pruner::recover_orphans()
{
    for (auto& [spec, archives] : m_archives)
        for (auto it = archives.begin(); it != archives.end();) {
            if (m_recorded.count(it->path)) {
                ++it;
                continue;
            }
            // One the run cannot prove it made is no longer the spec's: never purged.
            if (!recover_orphan(spec, *it)) {
                it = archives.erase(it);
                continue;
            }
            if (!changes()) {
                ++it;
                continue;
            }
            const auto info = m_root.stat(it->path);
            if (!info) {
                it = archives.erase(it);
                continue;
            }
            it->info = *info;
            it->evidence_ns = m_recorded[it->path].evidence_ns;
            ++it;
        }
}

bool Pruner::recover_orphan(const std::string& spec, const ArchiveFile& archive)
{
    bool adopted = false;
    Json line{{"action", "recover"}, {"spec", spec}, {"archive", archive.path}};
    try {
        auto [members, verified] = read_archive(m_root, archive.path);
        std::uint64_t bytes = 0;
        std::int64_t newest = 0;
        for (const auto& member : members) {
            bytes += member.file.size;
            newest = std::max(newest, member.file.mtime_ns);
        }
        line["files"] = members.size();
        line["reason"] = "archive without a record: verified and recorded";
        std::int64_t removed = 0;
        if (changes()) {
            const auto rule = std::string("recovered");
            record(spec, "archive", &archive.path, static_cast<std::int64_t>(members.size()), bytes,
                   verified.bytes, &verified.sha256, rule, newest);
            m_recorded[archive.path] = {spec, newest, verified.sha256};
            removed = remove_recovered_originals(spec, members);
        }
        line["originals_removed"] = removed;
        ++m_recovered;
        adopted = true;
        m_spec_lock.reset();
    } catch (const ForeignArchive&) {
        line["action"] = "report";
        line["reason"] = "not an archive evidence-prune made (no checksum list): left alone";
        m_other_bytes += signed_bytes(archive.info.size);
    } catch (const Error& error) {
        m_spec_lock.reset();
        if (error.code() != Exit::data) {
            line["reason"] = "archive without a record";
            fail(line, error);
            emit(line);
            return false;
        }
        // It may be the only copy of a spec's evidence: never deleted, only moved aside.
        line["reason"] =
            fmt::format("archive without a record failed verification ({})", error.what());
        set_aside(spec, archive, line);
    }
    emit(line);
    explain(fmt::format("{}: {}: {}", spec, archive.path, line["reason"].get<std::string>()));
    return adopted;
}

// Originals still in place are copies of what the recovered archive now safely holds: removed
// under the spec's lock, unless the spec is protected or locked by another process.
std::int64_t Pruner::remove_recovered_originals(const std::string& spec,
                                                const std::vector<Member>& members)
{
    if (spec_is_protected(spec) || !lock_spec(spec)) return 0;
    std::int64_t removed = 0;
    common::FolderCache folders(m_root);
    for (const auto& member : members) {
        const auto info = folders.stat(member.file.path);
        // A tar header may keep whole seconds only; the content's SHA-256 decides.
        constexpr std::int64_t second = 1'000'000'000;
        if (!info || info->type != EntryType::file || info->size != member.file.size ||
            info->mtime_ns / second != member.file.mtime_ns / second)
            continue;
        const auto file = folders.open_file(member.file.path);
        if (common::sha256_fd(file.get()) != member.sha256) continue;
        folders.remove_file(member.file.path);
        ++removed;
        m_bytes_reclaimed += signed_bytes(member.file.size);
    }
    return removed;
}

void Pruner::set_aside(const std::string& spec, const ArchiveFile& archive, Json& line)
{
    const auto [folder, name] = common::split_parent(archive.path);
    const auto aside = fmt::format("{}/{}/{}", archives_folder, unverified_folder, name);
    line["moved_to"] = aside;
    ++m_failures;
    warn(fmt::format("{}: {}: moved to {}", spec, line["reason"].get<std::string>(), aside));
    if (!changes()) return;
    const auto from = m_root.open_directory(folder);
    const auto to =
        m_root.open_directory(fmt::format("{}/{}", archives_folder, unverified_folder), true);
    if (const int error = common::rename_without_replacing_at(from.get(), std::string(name),
                                                              to.get(), std::string(name)))
        fail(line, common::system_error(error, "cannot move " + archive.path + " aside"));
    ::fsync(to.get());
    ::fsync(from.get());
}

}  // namespace evidence_prune::pruning
