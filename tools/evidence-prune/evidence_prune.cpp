#include "evidence_prune.hpp"

#include "archiver.hpp"
#include "common/atomic_file.hpp"
#include "common/digest.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/evidence_size.hpp"
#include "common/files.hpp"
#include "common/input.hpp"
#include "common/json.hpp"
#include "common/lock.hpp"
#include "common/records.hpp"
#include "common/schema.hpp"
#include "common/spec_id.hpp"
#include "common/sqlite.hpp"
#include "common/tree.hpp"
#include "liveness.hpp"
#include "plan.hpp"
#include "policy.hpp"
#include "restore.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace evidence_prune {
namespace {

using common::Database;
using common::EntryType;
using common::Error;
using common::Exit;
using common::Json;
using common::TreeRoot;

constexpr std::string_view archives_folder = "archives";
constexpr std::string_view locks_folder = ".locks";
// Archives without a record that failed verification: moved here, never deleted.
constexpr std::string_view unverified_folder = ".unverified";
constexpr std::array<std::string_view, 2> spec_folders{"commands", "consensus"};
constexpr std::string_view archive_suffix = ".tar.gz";

std::string date_stamp(common::TimePoint now)
{
    return common::sql_timestamp(now).substr(0, 10);
}

bool same_file(const common::EntryInfo& info, const FileRecord& file)
{
    return info.type == EntryType::file && info.size == file.size &&
           info.mtime_ns == file.mtime_ns && info.inode == file.inode;
}

FileRecord record_of(const common::TreeEntry& entry)
{
    return {.path = entry.path,
            .size = entry.info.size,
            .mtime_ns = entry.info.mtime_ns,
            .inode = entry.info.inode,
            .mode = entry.info.mode};
}

std::int64_t signed_bytes(std::uint64_t bytes)
{
    return static_cast<std::int64_t>(bytes);
}

// An archive file under archives/.
struct ArchiveFile {
    std::string path;
    common::EntryInfo info;
    std::int64_t evidence_ns = 0;
};

// An archive the database knows.
struct RecordedArchive {
    std::string spec;
    std::int64_t evidence_ns = 0;
    std::string sha256;
};

class Pruner {
public:
    Pruner(const Options& options, const common::Clock& clock, std::ostream& out, std::ostream& err)
        : m_options(options), m_now(clock()), m_out(out), m_err(err),
          m_root(TreeRoot::open(options.shared.evidence))
    {
    }

    int execute();

private:
    bool changes() const
    {
        return m_options.mode == Mode::run || m_options.mode == Mode::apply ||
               m_options.mode == Mode::restore;
    }

    void lock_root();
    void preflight_writable();
    void open_database();
    void load_database_state();
    void scan_top_level();
    void scan_archives();
    void recover_orphans();
    bool recover_orphan(const std::string& spec, const ArchiveFile& archive);
    void process_spec(const std::string& spec, bool measure_only = false);
    SpecState scan_spec(const std::string& spec, bool quiet);
    void act_on_spec(const std::string& spec, bool measure_only);
    bool lock_spec(const std::string& spec);
    void perform_decision(const std::string& spec, const SpecDecision& decision,
                          const std::vector<const ArchiveFile*>& due_archives);
    void clean_temporaries(const SpecState& state);
    void set_aside(const std::string& spec, const ArchiveFile& archive, Json& line);
    void delete_rows(std::int64_t cutoff_ns);
    void perform(PlannedAction action);
    void perform_archive(PlannedAction& action, Json& line);
    void complete_archive(const PlannedAction& action, const WrittenArchive& written,
                          const VerifiedArchive& verified, Json& line);
    void finish_pending();

    // An archive being verified on a second thread while the next spec is compressed.
    struct Pending {
        PlannedAction action;
        WrittenArchive written;
        Json line;
        std::size_t slot = 0;  // its line's place among m_held_lines
        std::future<VerifiedArchive> verified;
        std::shared_ptr<common::FileLock> lock;  // the spec's, held until its originals go
    };
    std::optional<Pending> m_pending;
    bool m_completing = false;
    std::vector<std::string> m_held_lines;
    void perform_purge(PlannedAction& action, Json& line);
    void perform_purge_archive(PlannedAction& action, Json& line);
    std::vector<PlannedAction> read_plan();
    void apply_plan(std::vector<PlannedAction> actions);
    void apply_action(PlannedAction action);
    void exempt(const std::string& spec, const std::string& reason);
    SpecDecision decide_under_lock(const std::string& spec, SpecState& state, bool work);
    SpecDecision m_fresh;  // --apply: the spec's decision at apply time
    int restore();
    bool spec_is_locked(const std::string& spec) const;
    bool spec_is_protected(const std::string& spec) const;
    std::string choose_archive_name(const std::string& spec, const std::string& wanted = {});
    bool name_taken(const std::string& path) const;
    // Adds an evidence_archives row (when the database has the table); returns its id or 0.
    std::int64_t record(const std::string& spec, std::string_view action,
                        const std::string* archive, std::int64_t files, std::uint64_t bytes_before,
                        std::uint64_t bytes_after, const std::string* sha256,
                        const std::string& rule, std::int64_t evidence_ns);
    void record_run(common::TimePoint started, const Json& summary, bool failed);
    bool has_archive_table() const;
    // The root as a plan names it: absolute, so that --apply may run from another folder.
    std::string plan_root() const
    {
        std::error_code ec;
        const auto absolute = std::filesystem::weakly_canonical(m_root.path(), ec);
        return ec ? m_root.path().string() : absolute.string();
    }

    void emit(const Json& line);
    void report_entry(const std::string& path, const std::string& reason);
    void skip(const std::string& spec, const std::string& path, const std::string& reason);
    void fail(Json& line, const Error& error);
    void explain(const std::string& text);
    void warn(const std::string& text);
    void progress(const std::string& spec, bool force = false);
    void clean_temporary(const std::string& path, const std::string& reason);
    Json summary(double duration_ms) const;
    void compute_limits();

    const Options& m_options;
    common::TimePoint m_now;
    std::ostream& m_out;
    std::ostream& m_err;
    TreeRoot m_root;
    std::optional<Database> m_db;
    // --plan FILE writes here; --plan - writes the plan lines on stdout instead of the report.
    std::optional<common::AtomicFile> m_plan;
    bool m_plan_on_stdout = false;
    void write_plan(const Json& line)
    {
        if (m_plan) m_plan->write(common::json_line(line));
        if (m_plan_on_stdout) common::write_json_line(m_out, line);
    }

    std::set<std::string> m_specs;
    std::set<std::string> m_running;
    // The lock of the spec being acted on, held until the spec is done (and its last archive
    // verified and its originals removed).
    std::shared_ptr<common::FileLock> m_spec_lock;
    std::string m_locked_spec;
    std::map<std::string, RecordedArchive> m_recorded;
    std::map<std::string, std::vector<ArchiveFile>> m_archives;  // by spec
    std::set<std::string> m_names_chosen;

    // What the summary says.
    std::int64_t m_files_archived = 0;
    std::int64_t m_files_purged = 0;
    std::int64_t m_archives_made = 0;
    std::int64_t m_archives_purged = 0;
    std::int64_t m_bytes_reclaimed = 0;
    std::int64_t m_rows_deleted = 0;
    std::int64_t m_failures = 0;
    std::int64_t m_skipped = 0;
    std::int64_t m_recovered = 0;
    std::int64_t m_actions = 0;
    std::map<std::string, std::int64_t> m_spec_bytes;
    std::int64_t m_other_bytes = 0;
    std::vector<std::string> m_warnings;
    std::vector<std::string> m_exempted;
    bool m_limit_passed = false;

    std::int64_t m_files_seen = 0;
    std::size_t m_specs_done = 0;
    common::Stopwatch m_progress_clock;
    std::int64_t m_progress_last_us = -1;
};

void Pruner::emit(const Json& line)
{
    // With --plan -, stdout carries the plan alone.
    if (m_plan_on_stdout) return;
    if (m_pending || m_completing) {
        m_held_lines.push_back(common::json_line(line));
        return;
    }
    common::write_json_line(m_out, line);
}

void Pruner::finish_pending()
{
    if (!m_pending) return;
    auto pending = std::move(*m_pending);
    m_pending.reset();
    // Lines of later actions wait for this archive's line, so that the output keeps the
    // order a dry run shows.
    m_completing = true;
    Json line = std::move(pending.line);
    try {
        complete_archive(pending.action, pending.written, pending.verified.get(), line);
        line["ok"] = true;
    } catch (const Error& error) {
        // The originals are all in place; a bad archive is only in the way.
        try {
            m_root.remove_file(pending.action.archive);
        } catch (const Error&) {
        }
        fail(line, error);
    }
    m_completing = false;
    m_held_lines[pending.slot] = common::json_line(line);
    for (const auto& text : m_held_lines)
        m_out << text;
    m_held_lines.clear();
}

void Pruner::explain(const std::string& text)
{
    if (!m_options.explain) return;
    if (m_options.progress) m_err << "\r\033[K";
    m_err << text << '\n';
}

void Pruner::warn(const std::string& text)
{
    if (m_options.shared.quiet) return;
    if (m_options.progress) m_err << "\r\033[K";
    m_err << "evidence-prune: warning: " << common::sanitize_utf8(text) << '\n';
}

void Pruner::progress(const std::string& spec, bool force)
{
    if (!m_options.progress) return;
    const auto now = m_progress_clock.elapsed_us();
    if (!force && m_progress_last_us >= 0 && now - m_progress_last_us < 100'000) return;
    m_progress_last_us = now;
    m_err << fmt::format("\r\033[Kevidence-prune: {} ({}/{} specs, {} files)", spec, m_specs_done,
                         m_specs.size(), m_files_seen)
          << std::flush;
}

void Pruner::report_entry(const std::string& path, const std::string& reason)
{
    Json line{{"action", "report"}};
    put_path(line, path);
    line["reason"] = reason;
    emit(line);
    explain(fmt::format("{}: left alone: {}", common::sanitize_utf8(path), reason));
}

void Pruner::skip(const std::string& spec, const std::string& path, const std::string& reason)
{
    ++m_skipped;
    Json line{{"action", "skip"}, {"spec", spec}};
    put_path(line, path);
    line["reason"] = reason;
    emit(line);
    warn(fmt::format("{}: skipped: {}", path, reason));
}

void Pruner::fail(Json& line, const Error& error)
{
    ++m_failures;
    line["ok"] = false;
    line["error"] = common::sanitize_utf8(error.what());
    warn(error.what());
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

void Pruner::lock_root()
{
    // Runs that change nothing share the root with each other, never with one that does.
    if (!m_root.try_lock(changes()))
        throw Error(Exit::temp_fail, "{}: another evidence-prune is running on this root",
                    m_root.path().string());
}

void Pruner::preflight_writable()
{
    struct statvfs info {};
    const bool read_only_fs = ::fstatvfs(m_root.fd(), &info) == 0 && (info.f_flag & ST_RDONLY);
    if (read_only_fs || ::faccessat(m_root.fd(), ".", W_OK, AT_EACCESS) != 0)
        throw Error(Exit::no_perm, "{}: the evidence root is read-only; nothing was changed",
                    m_root.path().string());
}

void Pruner::open_database()
{
    if (!m_options.database) return;
    const auto& path = *m_options.database;
    const int timeout = m_options.shared.busy_timeout_ms;
    if (changes()) {
        m_db.emplace(common::schema::open_for_writing(
            path, {.mode = common::OpenMode::create, .busy_timeout_ms = timeout}));
        common::schema::migrate(*m_db);
        return;
    }
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return;
    m_db.emplace(
        Database::open(path, {.mode = common::OpenMode::read_only, .busy_timeout_ms = timeout}));
    common::schema::ensure_supported(*m_db);
}

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
        m_recorded[known.archive_path] = std::move(recorded);
    }
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
            // Originals still in place are copies of what the archive now safely holds.
            const bool exempt = spec_is_protected(spec) || !lock_spec(spec);
            common::FolderCache folders(m_root);
            for (const auto& member : members) {
                if (exempt) break;
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

Json action_line(const PlannedAction& action)
{
    Json line{{"action", action_name(action.kind)}};
    if (action.kind == ActionKind::delete_rows) return line;
    line["spec"] = action.spec;
    if (!action.archive.empty()) line["archive"] = action.archive;
    std::uint64_t bytes = 0;
    for (const auto& file : action.files)
        bytes += file.size;
    line["files"] = action.files.size();
    line["bytes"] = bytes;
    line["reason"] = action.reason;
    return line;
}

std::string explanation(const PlannedAction& action)
{
    std::uint64_t bytes = 0;
    for (const auto& file : action.files)
        bytes += file.size;
    switch (action.kind) {
    case ActionKind::archive:
        return fmt::format("{}: archive {} files ({}) into {}: {}", action.spec,
                           action.files.size(), common::human_bytes(bytes), action.archive,
                           action.reason);
    case ActionKind::purge:
        return fmt::format("{}: purge {} files ({}): {}", action.spec, action.files.size(),
                           common::human_bytes(bytes), action.reason);
    case ActionKind::purge_archive:
        return fmt::format("{}: purge {} ({}): {}", action.spec, action.archive,
                           common::human_bytes(bytes), action.reason);
    case ActionKind::delete_rows: return "";
    }
    return "";
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
        } else if (action.kind == ActionKind::purge) {
            m_files_purged += files;
            m_bytes_reclaimed += bytes;
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
        case ActionKind::purge: perform_purge(action, line); break;
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
    auto written = write_archive(m_root, action.archive, action.files);
    for (const auto& file : written.changed)
        skip(action.spec, file.path, "changed since it was listed");
    line["files"] = written.members.size();
    line["bytes"] = written.bytes_before;
    if (written.members.empty()) return;
    m_names_chosen.insert(action.archive);
    if (m_options.crash_hook) m_options.crash_hook("archive-written");
    // The archive before this one has been verified meanwhile: finish it, then hand this one
    // to the second thread and go on with the next spec.
    finish_pending();
    Pending pending{action, std::move(written), line, m_held_lines.size(), {}, m_spec_lock};
    m_held_lines.emplace_back();
    pending.verified = std::async(std::launch::async, [&root = m_root, archive = action.archive,
                                                       members = pending.written.members] {
        return verify_archive(root, archive, members);
    });
    m_pending.emplace(std::move(pending));
}

void Pruner::complete_archive(const PlannedAction& action, const WrittenArchive& written,
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
    common::FolderCache folders(m_root);
    for (const auto& member : written.members) {
        const auto info = folders.stat(member.file.path);
        if (!info || !same_file(*info, member.file)) {
            skip(action.spec, member.file.path,
                 "changed after it was archived; the archive holds the older content");
            continue;
        }
        try {
            folders.remove_file(member.file.path);
            if (m_options.crash_hook) m_options.crash_hook("file-removed");
            ++m_files_archived;
            m_bytes_reclaimed += signed_bytes(member.file.size);
            m_spec_bytes[action.spec] -= signed_bytes(member.file.size);
        } catch (const Error& error) {
            ++m_failures;
            warn(error.what());
        }
    }
    if (m_options.mode == Mode::run)
        for (const auto folder : spec_folders)
            m_root.remove_directory_if_empty(fmt::format("{}/{}", folder, action.spec));
}

void Pruner::perform_purge(PlannedAction& action, Json& line)
{
    std::vector<FileRecord> unchanged;
    std::uint64_t bytes = 0;
    std::int64_t newest = 0;
    common::FolderCache folders(m_root);
    for (const auto& file : action.files) {
        const auto info = folders.stat(file.path);
        if (!info || !same_file(*info, file)) {
            skip(action.spec, file.path, "changed since it was listed");
            continue;
        }
        unchanged.push_back(file);
        bytes += file.size;
        newest = std::max(newest, file.mtime_ns);
    }
    line["files"] = unchanged.size();
    line["bytes"] = bytes;
    if (unchanged.empty()) return;
    // Recorded before anything is removed: the audit trail never misses a purge.
    const auto row =
        record(action.spec, "purge", nullptr, static_cast<std::int64_t>(unchanged.size()), bytes, 0,
               nullptr, action.reason, newest);
    std::int64_t failed = 0;
    std::uint64_t failed_bytes = 0;
    for (const auto& file : unchanged) {
        try {
            folders.remove_file(file.path);
            ++m_files_purged;
            m_bytes_reclaimed += signed_bytes(file.size);
            m_spec_bytes[action.spec] -= signed_bytes(file.size);
            if (m_options.crash_hook) {
                m_options.crash_hook("file-removed");
                if (m_files_purged == 1) m_options.crash_hook("mid-purge");
            }
        } catch (const Error& error) {
            ++failed;
            failed_bytes += file.size;
            ++m_failures;
            warn(error.what());
        }
    }
    if (failed > 0) {
        line["ok"] = false;
        line["failed"] = failed;
        // The row says what happened: the files that are gone.
        if (row != 0)
            common::correct_evidence_count(*m_db, row,
                                           static_cast<std::int64_t>(unchanged.size()) - failed,
                                           signed_bytes(bytes - failed_bytes));
    }
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

SpecState Pruner::scan_spec(const std::string& spec, bool quiet)
{
    SpecState state{.spec = spec,
                    .files = {},
                    .is_protected = spec_is_protected(spec),
                    .lock_held = !(m_spec_lock && m_locked_spec == spec) && spec_is_locked(spec),
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
    if (m_spec_lock && m_locked_spec == spec) return true;
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
                    past_purge_age(archive.evidence_ns, m_options.policy, m_now))
                    due.push_back(&archive);
        return due;
    }();
    const auto decision =
        decide_under_lock(spec, state, !due_archives.empty() || !state.temporaries.empty());
    if (decision.exempt) {
        exempt(spec, *decision.exempt);
        return;
    }
    clean_temporaries(state);
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
    if (!decision.purge.empty())
        perform({.kind = ActionKind::purge,
                 .spec = spec,
                 .reason = age_rule(m_options.policy.purge_after),
                 .archive = {},
                 .files = sorted(decision.purge)});
    if (!decision.archive.empty())
        perform({.kind = ActionKind::archive,
                 .spec = spec,
                 .reason = age_rule(m_options.policy.archive_after),
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

void Pruner::compute_limits()
{
    const auto& policy = m_options.policy;
    std::int64_t total = m_other_bytes;
    for (const auto& [spec, bytes] : m_spec_bytes) {
        total += bytes;
        const auto size = static_cast<std::uint64_t>(std::max<std::int64_t>(bytes, 0));
        if (size > policy.limit_bytes) {
            m_limit_passed = true;
            m_warnings.push_back(fmt::format("{}: {} passes the hard limit of {}", spec,
                                             common::human_bytes(size),
                                             common::human_bytes(policy.limit_bytes)));
        } else if (size > policy.warn_bytes) {
            m_warnings.push_back(fmt::format("{}: {} passes the warning level of {}", spec,
                                             common::human_bytes(size),
                                             common::human_bytes(policy.warn_bytes)));
        }
    }
    const auto size = static_cast<std::uint64_t>(std::max<std::int64_t>(total, 0));
    if (size > policy.total_limit_bytes) {
        m_limit_passed = true;
        m_warnings.push_back(fmt::format("the evidence tree's {} passes the hard limit of {}",
                                         common::human_bytes(size),
                                         common::human_bytes(policy.total_limit_bytes)));
    }
    for (const auto& warning : m_warnings)
        warn(warning);
}

Json Pruner::summary(double duration_ms) const
{
    std::int64_t total = m_other_bytes;
    Json specs = Json::object();
    for (const auto& [spec, bytes] : m_spec_bytes) {
        total += bytes;
        specs[spec] = bytes;
    }
    Json line{{"tool", "evidence-prune"},
              {"schema_version", 1},
              {"mode", mode_name(m_options.mode)},
              {"root", m_root.path().string()},
              {"dry_run", !changes()},
              {"files_archived", m_files_archived},
              {"archives_made", m_archives_made},
              {"files_purged", m_files_purged},
              {"archives_purged", m_archives_purged},
              {"bytes_reclaimed", m_bytes_reclaimed},
              {"rows_deleted", m_rows_deleted},
              {"recovered", m_recovered},
              {"total_bytes", total},
              {"specs", std::move(specs)},
              {"warnings", m_warnings},
              {"limit_passed", m_limit_passed},
              {"exempted_specs", m_exempted},
              {"skipped", m_skipped},
              {"failures", m_failures},
              {"database", m_db ? Json(m_db->path().string()) : Json(nullptr)},
              {"duration_ms", duration_ms}};
    return line;
}

void Pruner::record_run(common::TimePoint started, const Json& summary, bool failed)
{
    if (!m_db || !m_db->table_exists("maintenance_runs")) return;
    try {
        common::record_maintenance_run(*m_db, {.tool = "evidence-prune",
                                               .started_at = started,
                                               .finished_at = std::chrono::system_clock::now(),
                                               .failed = failed,
                                               .summary = common::json_text(summary)});
    } catch (const Error& error) {
        warn(fmt::format("cannot record the run in maintenance_runs: {}", error.what()));
    }
}

// Reads and checks the whole plan, before the database is opened and before anything is
// done: a bad plan changes nothing. Each line must be what a fresh run could plan: archives
// named for their spec under archives/, rows older than the purge age.
std::vector<PlannedAction> Pruner::read_plan()
{
    const auto source = m_options.plan_file.string();
    std::ifstream file;
    std::istream* in = &std::cin;
    if (m_options.plan_file != "-") {
        std::error_code ec;
        if (!std::filesystem::exists(m_options.plan_file, ec))
            throw Error(Exit::no_input, "{}: no such file", source);
        file.open(m_options.plan_file);
        if (!file) throw Error(Exit::io, "cannot read {}", source);
        in = &file;
    }
    // The whole plan is read and checked before anything is done: a bad plan changes nothing.
    std::vector<PlannedAction> actions;
    std::string text;
    int number = 0;
    while (std::getline(*in, text)) {
        ++number;
        if (text.empty()) continue;
        const auto line = common::parse_json(text, fmt::format("{}: line {}", source, number));
        if (number == 1)
            check_plan_header(line, plan_root(), source);
        else
            actions.push_back(read_plan_line(line, source, number));
    }
    if (in->bad()) throw Error(Exit::io, "cannot read {}", source);
    if (number == 0) throw Error(Exit::data, "{}: empty plan", source);
    const auto oldest_kept =
        to_ns(m_now) -
        std::chrono::duration_cast<std::chrono::nanoseconds>(m_options.policy.purge_after).count();
    for (const auto& action : actions) {
        if (action.kind == ActionKind::delete_rows && action.cutoff_ns > oldest_kept)
            throw Error(Exit::data, "{}: delete-rows with a cutoff newer than the purge age",
                        source);
        if (action.kind != ActionKind::archive && action.kind != ActionKind::purge_archive)
            continue;
        const auto [folder, name] = common::split_parent(action.archive);
        if (folder != archives_folder || common::spec_of_archive_name(name) != action.spec)
            throw Error(Exit::data, "{}: {} is not an archive name of {} under {}/", source,
                        action.archive, action.spec, archives_folder);
    }
    return actions;
}

void Pruner::apply_plan(std::vector<PlannedAction> actions)
{
    for (auto& action : actions) {
        if (action.kind == ActionKind::delete_rows) {
            delete_rows(action.cutoff_ns);
            continue;
        }
        apply_action(std::move(action));
    }
    m_spec_lock.reset();
}

// A planned action, done only as far as a fresh run would do it now: the spec is decided
// again under its lock, and only files that decision still archives or purges are touched.
void Pruner::apply_action(PlannedAction action)
{
    const auto& spec = action.spec;
    if (std::find(m_exempted.begin(), m_exempted.end(), spec) != m_exempted.end()) return;
    if (!(m_spec_lock && m_locked_spec == spec)) {
        m_spec_lock.reset();
        auto state = scan_spec(spec, true);
        m_fresh = decide_under_lock(spec, state, true);
        if (m_fresh.exempt) {
            exempt(spec, *m_fresh.exempt);
            return;
        }
    }
    const auto& due = action.kind == ActionKind::archive ? m_fresh.archive : m_fresh.purge;
    std::vector<FileRecord> still_due;
    for (const auto& file : action.files) {
        const bool found = std::any_of(due.begin(), due.end(), [&](const FileRecord& fresh) {
            return fresh.path == file.path && fresh.size == file.size &&
                   fresh.mtime_ns == file.mtime_ns && fresh.inode == file.inode;
        });
        if (action.kind == ActionKind::purge_archive) {
            const auto recorded = m_recorded.find(action.archive);
            if (recorded != m_recorded.end() &&
                past_purge_age(recorded->second.evidence_ns, m_options.policy, m_now))
                still_due.push_back(file);
            else
                skip(spec, file.path, "no longer due");
        } else if (found) {
            still_due.push_back(file);
        } else {
            skip(spec, file.path, "changed since it was listed");
        }
    }
    if (still_due.empty()) return;
    action.files = std::move(still_due);
    if (action.kind == ActionKind::archive)
        action.archive = choose_archive_name(spec, action.archive);
    perform(std::move(action));
}

void Pruner::exempt(const std::string& spec, const std::string& reason)
{
    m_exempted.push_back(spec);
    emit(Json{{"action", "exempt"}, {"spec", spec}, {"reason", reason}});
    explain(fmt::format("{}: leave alone: {}", spec, reason));
}

// The decision for a spec; when the run changes the tree and there is work, the spec's lock
// is taken and the spec walked and decided again under it, so that what a writer did since
// the first walk counts.
SpecDecision Pruner::decide_under_lock(const std::string& spec, SpecState& state, bool work)
{
    auto decision = decide(state, m_options.policy, m_now);
    work = work || !decision.archive.empty() || !decision.purge.empty();
    if (!changes() || decision.exempt || !work) return decision;
    if (!lock_spec(spec)) return SpecDecision{.exempt = "locked"};
    state = scan_spec(spec, true);
    return decide(state, m_options.policy, m_now);
}

int Pruner::restore()
{
    const auto& archive = m_options.restore_archive;
    const auto open_archive = [&] {
        // Non-blocking: a FIFO in place of the archive must not hang the run.
        common::UniqueFd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
        if (!fd) throw common::system_error(errno, archive.string());
        struct stat status {};
        if (::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode))
            throw Error(Exit::data, "{}: not a regular file; nothing restored", archive.string());
        return fd;
    };
    open_archive();
    // An archive of this root's archives/ is checked against its record first.
    std::error_code ec;
    const auto folder = std::filesystem::weakly_canonical(archive, ec).parent_path();
    const auto relative = fmt::format("{}/{}", archives_folder, archive.filename().string());
    const auto recorded = m_recorded.find(relative);
    if (!ec && folder == std::filesystem::weakly_canonical(m_root.path() / archives_folder, ec) &&
        recorded != m_recorded.end() && !recorded->second.sha256.empty()) {
        const auto fd = open_archive();
        const auto sha = common::sha256_fd(fd.get());
        if (sha != recorded->second.sha256)
            throw Error(Exit::data, "{}: SHA-256 {} differs from the recorded {}; nothing restored",
                        archive.string(), sha, recorded->second.sha256);
    }
    const auto result =
        restore_archive(m_root, archive.string(), open_archive, m_options.force_unverified);
    for (const auto& member : result.restored) {
        Json line{{"action", "restore"}};
        put_path(line, member.file.path);
        line["size"] = member.file.size;
        line["sha256"] = member.sha256;
        emit(line);
        explain(fmt::format("restored {}", common::sanitize_utf8(member.file.path)));
    }
    return static_cast<int>(result.restored.size());
}

int Pruner::execute()
{
    const common::Stopwatch watch;
    const auto started = std::chrono::system_clock::now();
    lock_root();
    if (changes()) preflight_writable();
    // A refused plan leaves even the database as it was.
    auto plan = m_options.mode == Mode::apply ? read_plan() : std::vector<PlannedAction>{};
    open_database();
    load_database_state();

    if (m_options.mode == Mode::restore) {
        const auto restored = restore();
        Json line{{"tool", "evidence-prune"},
                  {"schema_version", 1},
                  {"mode", "restore"},
                  {"root", m_root.path().string()},
                  {"archive", m_options.restore_archive.string()},
                  {"files_restored", restored},
                  {"duration_ms", watch.elapsed_ms()}};
        emit(line);
        record_run(started, line, false);
        return 0;
    }

    if (m_options.mode == Mode::plan) {
        if (m_options.plan_file == "-")
            m_plan_on_stdout = true;
        else
            m_plan.emplace(m_options.plan_file, 0600);
        write_plan(plan_header(plan_root(), m_now, m_options.policy));
    }

    if (m_options.mode == Mode::apply) {
        scan_top_level();
        // Sizes as found, so that the summary's sizes are those left after the plan.
        for (const auto& spec : m_specs)
            process_spec(spec, true);
        apply_plan(std::move(plan));
        finish_pending();
    } else {
        scan_top_level();
        if (has_archive_table() && m_options.mode != Mode::check) recover_orphans();
        for (const auto& spec : m_specs)
            process_spec(spec);
        finish_pending();
        if (m_options.mode != Mode::check)
            delete_rows(to_ns(m_now) - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           m_options.policy.purge_after)
                                           .count());
    }
    if (m_options.progress) m_err << "\r\033[K" << std::flush;
    // The gate measures as the health report does: one measure of a spec's evidence.
    if (m_options.mode == Mode::check)
        for (const auto& [spec, bytes] : common::measure_evidence(m_root))
            m_spec_bytes[spec] = signed_bytes(bytes);
    compute_limits();

    if (m_plan) m_plan->commit();

    const auto line = summary(watch.elapsed_ms());
    emit(line);
    const bool failed = m_failures > 0 || m_skipped > 0;
    if (changes() && (m_actions > 0 || m_recovered > 0 || failed))
        record_run(started, line, m_failures > 0);
    if (m_options.mode == Mode::check && m_limit_passed) return common::to_int(Exit::limit);
    return failed ? common::to_int(Exit::failed) : 0;
}

}  // namespace

int run(const Options& options, const common::Clock& clock, std::ostream& out, std::ostream& err)
{
    std::error_code ec;
    if (!options.evidence_required && !std::filesystem::exists(options.shared.evidence, ec) &&
        options.mode != Mode::restore && options.mode != Mode::apply) {
        // No evidence written yet: nothing to prune.
        common::write_json_line(out, Json{{"tool", "evidence-prune"},
                                          {"schema_version", 1},
                                          {"mode", mode_name(options.mode)},
                                          {"root", options.shared.evidence.string()},
                                          {"dry_run", options.mode != Mode::run},
                                          {"total_bytes", 0},
                                          {"note", "the evidence root does not exist yet"}});
        return 0;
    }
    Pruner pruner(options, clock, out, err);
    return pruner.execute();
}

}  // namespace evidence_prune
