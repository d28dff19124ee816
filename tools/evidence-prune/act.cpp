#include "pruner.hpp"

#include <future>

namespace evidence_prune::pruning {

namespace {

// Archives verified before one flush: a journal commit for this many instead of two for each,
// and their members' lists and spec locks held meanwhile. Fewer when they hold many files:
// the last batch's originals are removed once everything else is done, with no archiving
// left to overlap, so a batch of 32 specs of 1,000 files made a tail of seconds.
constexpr std::size_t archives_per_flush = 32;
constexpr std::size_t files_per_flush = 4096;

}  // namespace

void Pruner::discard_archive(Pending& pending, const Error& error, bool in_place)
{
    // The originals are all in place; a bad or unflushed archive is only in the way.
    try {
        if (in_place) m_root.remove_file(pending.action.archive);
    } catch (const Error&) {
    }
    fail(pending.line, error);
    m_held_lines[pending.slot] = common::json_line(pending.line);
}

void Pruner::collect_pending()
{
    // Removals done meanwhile are counted now, and their specs' locks let go.
    if (m_removing &&
        m_removing->outcomes.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
        merge_removals();
    if (!m_pending) return;
    auto pending = std::move(*m_pending);
    m_pending.reset();
    // Lines of later actions wait for this archive's line, so that the output keeps the
    // order a dry run shows.
    m_completing = true;
    try {
        pending.result = pending.verified.get();
        m_unflushed.push_back(std::move(pending));
    } catch (const ArchiveNotWritten& error) {
        discard_archive(pending, error, false);
    } catch (const Error& error) {
        discard_archive(pending, error);
    }
}

void Pruner::finish_pending()
{
    collect_pending();
    auto batch = std::move(m_unflushed);
    m_unflushed.clear();
    if (!batch.empty()) {
        try {
            flush_archives(m_root, std::string(archives_folder));
        } catch (const Error& error) {
            for (auto& pending : batch)
                discard_archive(pending, error);
            batch.clear();
        }
    }
    std::vector<Pending> recorded;
    for (auto& pending : batch) {
        try {
            record_archive(pending.action, pending.written, pending.result, pending.line);
            pending.line["ok"] = true;
        } catch (const Error& error) {
            discard_archive(pending, error);
            continue;
        }
        m_held_lines[pending.slot] = common::json_line(pending.line);
        recorded.push_back(std::move(pending));
    }
    // The batch before this one had this one's archiving as time to remove its originals.
    merge_removals();
    release_held_lines();
    if (!recorded.empty()) start_removals(std::move(recorded));
}

void Pruner::release_held_lines()
{
    if (m_removing || m_pending || !m_unflushed.empty()) return;
    m_completing = false;
    for (const auto& text : m_held_lines)
        m_out << text;
    m_held_lines.clear();
}

void Pruner::clean_temporary(const std::string& path, const std::string& reason)
{
    Json line{{"action", "clean"}};
    put_path(line, path);
    line["reason"] = reason;
    if (changes()) {
        try {
            m_root.remove_file(path);
        } catch (const Error& error) {
            fail(line, error);
        }
    }
    emit(line);
    explain(fmt::format("{}: remove: {}", common::sanitize_utf8(path), reason));
}

void Pruner::clean_temporaries(const SpecState& state)
{
    // A writer's temporary lives for seconds; one a day old belongs to a writer that died.
    const auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(Days(1)).count();
    for (const auto& file : state.temporaries)
        if (to_ns(m_now) - file.mtime_ns > limit) clean_temporary(file.path, "stale temporary");
}

bool Pruner::name_taken(const std::string& path) const
{
    if (m_names_chosen.count(path) || m_recorded.count(path)) return true;
    return m_root.stat(path).has_value();
}

std::string Pruner::choose_archive_name(const std::string& spec, const std::string& wanted)
{
    if (!wanted.empty() && !name_taken(wanted)) {
        m_names_chosen.insert(wanted);
        return wanted;
    }
    const auto date = date_stamp(m_now);
    const auto base = fmt::format("{}/{}-{}{}{}", archives_folder, spec, date.substr(0, 4),
                                  date.substr(5, 2), date.substr(8, 2));
    for (int n = 1;; ++n) {
        auto name = n == 1 ? base + std::string(archive_suffix)
                           : fmt::format("{}-{}{}", base, n, archive_suffix);
        if (!name_taken(name)) {
            m_names_chosen.insert(name);
            return name;
        }
    }
}

std::int64_t Pruner::record(const std::string& spec, std::string_view action,
                            const std::string* archive, std::int64_t files,
                            std::uint64_t bytes_before, std::uint64_t bytes_after,
                            const std::string* sha256, const std::string& rule,
                            std::int64_t evidence_ns)
{
    if (!has_archive_table()) return 0;
    return common::record_evidence(
        *m_db, {.spec_id = spec,
                .action = std::string(action),
                .archive_path = archive ? std::optional(*archive) : std::nullopt,
                .file_count = files,
                .bytes_before = signed_bytes(bytes_before),
                .bytes_after = signed_bytes(bytes_after),
                .sha256 = sha256 ? std::optional(*sha256) : std::nullopt,
                .rule = rule,
                .evidence_time = from_ns(evidence_ns),
                .created_at = m_now});
}

void Pruner::perform(PlannedAction action)
{
    ++m_actions;
    if (m_options.mode == Mode::dry_run || m_options.mode == Mode::plan) {
        auto line = action_line(action);
        write_plan(plan_line(action));
        emit(line);
        explain(explanation(action));
        const auto files = static_cast<std::int64_t>(action.files.size());
        const auto bytes = line["bytes"].get<std::int64_t>();
        if (action.kind == ActionKind::archive) {
            m_files_archived += files;
            ++m_archives_made;
            m_bytes_reclaimed += bytes;  // the archive's own size is not known before it exists
        } else {
            ++m_archives_purged;
            m_bytes_reclaimed += bytes;
        }
        m_spec_bytes[action.spec] -= bytes;
        return;
    }
    auto line = action_line(action);
    explain(explanation(action));
    try {
        switch (action.kind) {
        case ActionKind::archive:
            perform_archive(action, line);
            if (m_pending && m_pending->action.archive == action.archive) return;
            break;
        case ActionKind::purge_archive: perform_purge_archive(action, line); break;
        case ActionKind::delete_rows: break;
        }
        if (!line.contains("ok")) line["ok"] = true;
    } catch (const Error& error) {
        fail(line, error);
    }
    emit(line);
}

void Pruner::perform_archive(PlannedAction& action, Json& line)
{
    m_root.open_directory(archives_folder, true);
    // The archive's end is compressed, written and renamed on the second thread, while the
    // next spec's files are read.
    auto [written, tail] = begin_archive(m_root, action.archive, action.files);
    for (const auto& file : written.changed)
        skip(action.spec, file.path, "changed since it was listed");
    line["files"] = written.members.size();
    line["bytes"] = written.bytes_before;
    if (written.members.empty()) return;
    m_names_chosen.insert(action.archive);
    if (m_options.crash_hook) m_options.crash_hook("archive-written");
    // The archive before this one has been verified meanwhile: queue it for the next flush,
    // then hand this one to the second thread and go on with the next spec.
    collect_pending();
    std::size_t unflushed_files = 0;
    for (const auto& queued : m_unflushed)
        unflushed_files += queued.written.members.size();
    if (m_unflushed.size() >= archives_per_flush || unflushed_files >= files_per_flush)
        finish_pending();
    Pending pending{action, std::move(written), line, m_held_lines.size(), {}, m_spec_lock};
    m_held_lines.emplace_back();
    pending.verified = std::async(std::launch::async, [&root = m_root, archive = action.archive,
                                                       members = pending.written.members,
                                                       tail = std::move(tail)]() mutable {
        // Dropped on failure, which removes the temporary file.
        auto finishing = std::move(tail);
        finishing->finish(Flush::deferred);
        finishing.reset();
        return verify_archive(root, archive, members);
    });
    m_pending.emplace(std::move(pending));
}

void Pruner::record_archive(const PlannedAction& action, const WrittenArchive& written,
                            const VerifiedArchive& verified, Json& line)
{
    record(action.spec, "archive", &action.archive,
           static_cast<std::int64_t>(written.members.size()), written.bytes_before, verified.bytes,
           &verified.sha256, action.reason, written.newest_mtime_ns);
    m_recorded[action.archive] = {action.spec, written.newest_mtime_ns, verified.sha256};
    line["archive_bytes"] = verified.bytes;
    line["sha256"] = verified.sha256;
    line["evidence_time"] = common::iso8601(from_ns(written.newest_mtime_ns));
    ++m_archives_made;
    m_spec_bytes[action.spec] += signed_bytes(verified.bytes);
    m_bytes_reclaimed -= signed_bytes(verified.bytes);
    if (m_options.crash_hook) m_options.crash_hook("archive-recorded");
}

void Pruner::perform_purge_archive(PlannedAction& action, Json& line)
{
    const auto& expected = action.files.front();
    const auto info = m_root.stat(action.archive);
    if (!info || !same_file(*info, expected)) {
        skip(action.spec, action.archive, "changed since it was listed");
        line["files"] = 0;
        line["bytes"] = 0;
        return;
    }
    const auto found = m_recorded.find(action.archive);
    // Without a record, only an archive that carries our checksum list and verifies is ours.
    if (found == m_recorded.end()) read_archive(m_root, action.archive);
    record(action.spec, "purge", &action.archive, 1, expected.size, 0,
           found != m_recorded.end() ? &found->second.sha256 : nullptr, action.reason,
           found != m_recorded.end() ? found->second.evidence_ns : expected.mtime_ns);
    m_root.remove_file(action.archive);
    ++m_archives_purged;
    m_bytes_reclaimed += signed_bytes(expected.size);
    m_spec_bytes[action.spec] -= signed_bytes(expected.size);
}

void Pruner::process_spec(const std::string& spec, bool measure_only)
{
    progress(spec);
    try {
        act_on_spec(spec, measure_only);
    } catch (const Error& error) {
        // One spec's damage (an unreadable folder, an I/O error) never stops the others.
        ++m_failures;
        Json line{{"action", "skip"}, {"spec", spec}, {"ok", false}};
        line["reason"] = common::sanitize_utf8(error.what());
        emit(line);
        warn(fmt::format("{}: skipped: {}", spec, error.what()));
    }
    m_spec_lock.reset();
}

// Takes the spec's lock for the time it is acted on; false when another process has it.
bool Pruner::lock_spec(const std::string& spec)
{
    if (holds_lock(spec)) return true;
    m_spec_lock.reset();
    const auto folder = m_root.open_directory(locks_folder, true);
    auto lock = common::FileLock::try_acquire_at(folder.get(), spec + ".lock");
    if (!lock) return false;
    m_spec_lock = std::make_shared<common::FileLock>(std::move(*lock));
    m_locked_spec = spec;
    return true;
}

void Pruner::act_on_spec(const std::string& spec, bool measure_only)
{
    // A run that changes the tree walks the spec under its lock when it can have it, so that
    // one walk decides. When another process holds it, or no lock can be made here, the walk
    // goes without it and decide_under_lock() takes it if there is work.
    if (changes() && !measure_only && !spec_is_protected(spec)) {
        try {
            lock_spec(spec);
        } catch (const Error&) {  // NOLINT(bugprone-empty-catch): walked without the lock
        }
    }
    auto state = scan_spec(spec, false);
    std::int64_t bytes = 0;
    for (const auto& file : state.files)
        bytes += signed_bytes(file.size);
    const auto archives = m_archives.find(spec);
    if (archives != m_archives.end())
        for (const auto& archive : archives->second)
            bytes += signed_bytes(archive.info.size);
    m_spec_bytes[spec] = bytes;
    ++m_specs_done;
    if (measure_only || m_options.mode == Mode::check) return;

    const auto due_archives = [&] {
        std::vector<const ArchiveFile*> due;
        if (archives != m_archives.end())
            for (const auto& archive : archives->second)
                if ((!has_archive_table() || m_recorded.count(archive.path)) &&
                    archive_purgeable(spec, archive))
                    due.push_back(&archive);
        return due;
    }();
    auto decision =
        decide_under_lock(spec, state, !due_archives.empty() || !state.temporaries.empty());
    if (decision.exempt) {
        exempt(spec, *decision.exempt);
        return;
    }
    clean_temporaries(state);
    decision.archive = drop_archived_copies(spec, std::move(decision.archive), due_archives);
    perform_decision(spec, decision, due_archives);
    if (changes())
        for (const auto folder : spec_folders)
            m_root.remove_directory_if_empty(fmt::format("{}/{}", folder, spec));
}

void Pruner::perform_decision(const std::string& spec, const SpecDecision& decision,
                              const std::vector<const ArchiveFile*>& due_archives)
{
    for (const auto& kept : decision.keep) {
        Json line{{"action", "keep"}, {"spec", spec}};
        put_path(line, kept.file.path);
        line["reason"] = kept.reason;
        emit(line);
        explain(fmt::format("{}: keep {}: {}", spec, common::sanitize_utf8(kept.file.path),
                            kept.reason));
    }
    // Sorted, so that a dry run and the run after it list the same actions in the same order.
    const auto sorted = [](std::vector<FileRecord> files) {
        std::sort(files.begin(), files.end(),
                  [](const auto& a, const auto& b) { return a.path < b.path; });
        return files;
    };
    if (!decision.archive.empty())
        perform({.kind = ActionKind::archive,
                 .spec = spec,
                 .reason = archive_reason(decision.archive, m_options.policy, m_now),
                 .archive = choose_archive_name(spec),
                 .files = sorted(decision.archive)});
    for (const auto* archive : due_archives)
        perform({.kind = ActionKind::purge_archive,
                 .spec = spec,
                 .reason = age_rule(m_options.policy.purge_after),
                 .archive = archive->path,
                 .files = {FileRecord{.path = archive->path,
                                      .size = archive->info.size,
                                      .mtime_ns = archive->info.mtime_ns,
                                      .inode = archive->info.inode,
                                      .mode = archive->info.mode}}});
}

void Pruner::delete_rows(std::int64_t cutoff_ns)
{
    if (!m_db) return;
    const auto cutoff = from_ns(cutoff_ns);
    Json line{{"action", "delete-rows"},
              {"cutoff", common::iso8601(cutoff)},
              {"reason", age_rule(m_options.policy.purge_after)}};
    try {
        const auto owners =
            m_options.rows_of_others ? common::RowOwners::all : common::RowOwners::toolkit;
        const auto rows = changes() ? common::delete_rows_older_than(*m_db, cutoff, owners)
                                    : common::count_rows_older_than(*m_db, cutoff, owners);
        if (rows.total() == 0) return;
        ++m_actions;
        line["rows"] = rows.total();
        line["agent_executions"] = rows.agent_executions;
        line["spawn_metrics"] = rows.spawn_metrics;
        line["spawn_batches"] = rows.spawn_batches;
        m_rows_deleted = rows.total();
        write_plan(plan_line({.kind = ActionKind::delete_rows,
                              .spec = {},
                              .reason = line["reason"].get<std::string>(),
                              .archive = {},
                              .files = {},
                              .cutoff_ns = cutoff_ns}));
        explain(fmt::format("database: delete {} rows older than {}: {}", rows.total(),
                            common::iso8601(cutoff), line["reason"].get<std::string>()));
    } catch (const Error& error) {
        fail(line, error);
    }
    emit(line);
}

// The decision for a spec; when the run changes the tree, there is work and the spec was
// walked without its lock, the lock is taken and the spec walked and decided again under it,
// so that what a writer did since the first walk counts.
SpecDecision Pruner::decide_under_lock(const std::string& spec, SpecState& state, bool work)
{
    auto decision = decide(state, m_options.policy, m_now);
    work = work || !decision.archive.empty();
    // Held now, it was held through the walk: act_on_spec takes it before walking.
    if (!changes() || decision.exempt || !work || holds_lock(spec)) return decision;
    if (!lock_spec(spec)) return SpecDecision{.exempt = "locked"};
    state = scan_spec(spec, true);
    return decide(state, m_options.policy, m_now);
}

}  // namespace evidence_prune::pruning
