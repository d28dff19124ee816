#pragma once
// The Pruner: one run of evidence-prune over one root. Its parts live where a reader looks
// for them: scan.cpp (each spec's state, liveness included), act.cpp (one spec at a time,
// holding its lock, containing its errors), removal.cpp (the originals of recorded archives,
// removed on other threads), report.cpp (JSON lines, explain, progress, summary), apply.cpp
// (--apply), restore.cpp (--restore).

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
#include "common/process.hpp"
#include "common/records.hpp"
#include "common/schema.hpp"
#include "common/spec_id.hpp"
#include "common/sqlite.hpp"
#include "common/stop_signal.hpp"
#include "common/tree.hpp"
#include "evidence_prune.hpp"
#include "liveness.hpp"
#include "plan.hpp"
#include "policy.hpp"
#include "restore.hpp"
#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace evidence_prune::pruning {

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

inline std::string date_stamp(common::TimePoint now)
{
    return common::sql_timestamp(now).substr(0, 10);
}

inline bool same_file(const common::EntryInfo& info, const FileRecord& file)
{
    return info.type == EntryType::file && info.size == file.size &&
           info.mtime_ns == file.mtime_ns && info.inode == file.inode;
}

inline FileRecord record_of(const common::TreeEntry& entry)
{
    return {.path = entry.path,
            .size = entry.info.size,
            .mtime_ns = entry.info.mtime_ns,
            .inode = entry.info.inode,
            .mode = entry.info.mode};
}

inline std::int64_t signed_bytes(std::uint64_t bytes)
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

// What became of one original once its archive was recorded.
struct Removal {
    enum class Outcome { removed, changed, failed } outcome = Outcome::failed;
    std::string error;  // when failed
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
    // The tree walked spec by spec (scan, decide, act), or --apply's plan carried out.
    void walk(std::vector<PlannedAction> plan);
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
    std::int64_t remove_recovered_originals(const std::string& spec,
                                            const std::vector<Member>& members);
    void process_spec(const std::string& spec, bool measure_only = false);
    SpecState scan_spec(const std::string& spec, bool quiet);
    void act_on_spec(const std::string& spec, bool measure_only);
    bool lock_spec(const std::string& spec);
    // Whether this run holds the spec's lock now.
    bool holds_lock(const std::string& spec) const { return m_spec_lock && m_locked_spec == spec; }
    void perform_decision(const std::string& spec, const SpecDecision& decision,
                          const std::vector<const ArchiveFile*>& due_archives);
    void clean_temporaries(const SpecState& state);
    // A member of one of the spec's archives, verified against its checksum list.
    struct HeldMember {
        std::string archive;
        Member member;
    };
    std::map<std::string, HeldMember>
    archived_members(const std::string& spec, std::int64_t oldest_ns,
                     const std::vector<const ArchiveFile*>& due_archives);
    // `files` without those whose exact bytes (name, size, SHA-256) one of the spec's archives
    // already holds: those are removed as archived originals are, or reported, not archived.
    std::vector<FileRecord>
    drop_archived_copies(const std::string& spec, std::vector<FileRecord> files,
                         const std::vector<const ArchiveFile*>& due_archives);
    void remove_archived_copy(const std::string& spec, const FileRecord& file,
                              const std::string& archive, common::FolderCache& folders);
    void set_aside(const std::string& spec, const ArchiveFile& archive, Json& line);
    void delete_rows(std::int64_t cutoff_ns);
    void perform(PlannedAction action);
    void perform_archive(PlannedAction& action, Json& line);
    void record_archive(const PlannedAction& action, const WrittenArchive& written,
                        const VerifiedArchive& verified, Json& line);
    // Records the archives written so far, after one flush, and starts removing their
    // originals; counts what the batch before this one removed.
    void finish_pending();
    void collect_pending();

    // An archive being verified on a second thread while the next spec is compressed.
    struct Pending {
        PlannedAction action;
        WrittenArchive written;
        Json line;
        std::size_t slot = 0;  // its line's place among m_held_lines
        std::future<VerifiedArchive> verified;
        std::shared_ptr<common::FileLock> lock;  // the spec's, held until its originals go
        VerifiedArchive result{};
    };
    // Reports the archive's failure; removes it when it was put into place.
    void discard_archive(Pending& pending, const Error& error, bool in_place = true);

    // The originals of recorded archives, being removed on other threads while the next specs
    // are archived. The future is declared last: it is waited for before the locks go.
    struct Removing {
        std::vector<Pending> batch;                               // their spec locks held
        std::future<std::vector<std::vector<Removal>>> outcomes;  // per archive, per member
    };
    void start_removals(std::vector<Pending> batch);
    // Waits for the removals under way and counts them (skips and failures reported).
    void merge_removals();
    void count_removals(const std::string& spec, const WrittenArchive& written,
                        const std::vector<Removal>& outcomes);
    void release_held_lines();
    // Verified, not yet flushed: their originals stay until flush_archives has run.
    std::vector<Pending> m_unflushed;
    bool m_completing = false;
    std::vector<std::string> m_held_lines;
    void perform_purge_archive(PlannedAction& action, Json& line);
    std::vector<PlannedAction> read_plan();
    void apply_plan(std::vector<PlannedAction> actions);
    void apply_action(PlannedAction action);
    void exempt(const std::string& spec, const std::string& reason);
    SpecDecision decide_under_lock(const std::string& spec, SpecState& state, bool work);
    SpecDecision m_fresh;  // --apply: the spec's decision at apply time
    // --restore; returns the exit code.
    int restore(const common::Stopwatch& watch, common::TimePoint started);
    void check_against_record(const std::function<common::UniqueFd()>& open_archive);
    void emit_restored(const RestoreResult& result);
    bool spec_is_locked(const std::string& spec) const;
    bool spec_is_protected(const std::string& spec) const;
    std::string choose_archive_name(const std::string& spec, const std::string& wanted = {});
    bool name_taken(const std::string& path) const;
    // Adds an evidence_archives row (when the database has the table); returns its id or 0.
    std::int64_t record(const std::string& spec, std::string_view action,
                        const std::string* archive, std::int64_t files, std::uint64_t bytes_before,
                        std::uint64_t bytes_after, const std::string* sha256,
                        const std::string& rule, std::int64_t evidence_ns);
    // False when the row could not be written (a busy database, a signal during its wait).
    bool record_run(common::TimePoint started, const Json& summary, bool failed);
    // SIGINT or SIGTERM, held back while a changing run works: read between specs, planned
    // actions and restored members, and ending every wait for a busy database at once. The
    // run stops there, having recorded what it did.
    std::optional<common::StopSignal> m_signals;
    std::optional<int> m_stopped_by;
    bool stopping();
    bool has_archive_table() const;
    bool archive_purgeable(const std::string& spec, const ArchiveFile& archive);
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
    // With --explain, the age rules once, before the decisions.
    void explain_policy();
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
    std::map<std::string, std::int64_t> m_made_ns;  // archive path -> when its row says it was made
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

    // Last, so that they go first: their threads read the root, the options and the members,
    // and are waited for when these go.
    std::optional<Pending> m_pending;
    std::optional<Removing> m_removing;
};

// A run's summary line as a few lines of text for people.
std::string summary_text(const Json& summary);

// The report line and the --explain text of an action.
Json action_line(const PlannedAction& action);
std::string explanation(const PlannedAction& action);

}  // namespace evidence_prune::pruning
