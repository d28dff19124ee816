#include "db_vacuum.hpp"

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json.hpp"
#include "common/paths.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace db_vacuum {
namespace {

using common::Database;
using common::Error;
using common::Exit;

// Kept free beyond what a rebuild is computed to need.
constexpr std::uint64_t rebuild_margin_bytes = 1 << 20;

// Runs the steps of an action, noting each one's name and duration in the report, and with
// --verbose saying so on stderr.
class Steps {
public:
    Steps(Report& report, std::ostream* log) : m_report(report), m_log(log) {}

    template <typename Work> void run(const std::string& name, Work&& work)
    {
        const common::Stopwatch watch;
        work();
        note(name, watch.elapsed_ms());
    }

    void note(const std::string& name, double duration_ms)
    {
        m_report.durations[name] += duration_ms;
        m_report.steps.push_back(name);
        if (m_log) *m_log << fmt::format("db-vacuum: {} done in {:.1f} ms\n", name, duration_ms);
    }

private:
    Report& m_report;
    std::ostream* m_log;
};

bool rebuilds(const Options& options, const Status& status)
{
    switch (options.action) {
    case Action::full: return true;
    case Action::migrate:
    case Action::automatic: return status.auto_vacuum != "incremental";
    default: return false;
    }
}

// The folder SQLite builds VACUUM's temporary copy in: the first usable of its own list.
std::filesystem::path sqlite_temp_dir()
{
    std::vector<std::string> candidates;
    for (const auto* variable : {"SQLITE_TMPDIR", "TMPDIR"})
        if (auto dir = common::process_env(variable)) candidates.push_back(*dir);
    candidates.insert(candidates.end(), {"/var/tmp", "/usr/tmp", "/tmp"});
    std::error_code ec;
    for (const auto& dir : candidates)
        if (std::filesystem::is_directory(dir, ec) && ::access(dir.c_str(), W_OK | X_OK) == 0)
            return dir;
    return ".";
}

// A rebuild writes the live pages three times: into SQLite's temporary copy, into the WAL
// beside the database, and into the backup when one is asked for. Folders on one file
// system share its free space, so the needs are added up per file system.
void ensure_room_for_rebuild(const Database& db, const Status& status,
                             const std::optional<std::filesystem::path>& backup)
{
    struct Need {
        std::filesystem::path folder;
        std::uint64_t bytes = 0;
    };
    std::map<dev_t, Need> needs;
    const auto add = [&](const std::filesystem::path& folder, std::uint64_t bytes) {
        struct stat info {};
        const dev_t device = ::stat(folder.c_str(), &info) == 0 ? info.st_dev : 0;
        auto& need = needs.try_emplace(device, Need{folder}).first->second;
        need.bytes += bytes;
    };
    const auto live = status.live_bytes();
    add(db.file_path().parent_path(), live + rebuild_margin_bytes);
    add(sqlite_temp_dir(), live);
    if (backup) add(std::filesystem::absolute(*backup).parent_path(), live);

    for (const auto& [device, need] : needs) {
        const auto available = common::available_space(need.folder);
        if (available < need.bytes)
            throw Error(Exit::io,
                        "not enough free space for the rebuild on the file system of {}: "
                        "need {}, have {}",
                        need.folder.string(), common::human_bytes(need.bytes),
                        common::human_bytes(available));
    }
}

void ensure_backup_target_free(const std::filesystem::path& target)
{
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(target, ec)))
        throw Error(Exit::cant_create, "backup {} already exists; not overwriting it",
                    target.string());
    const auto parent = std::filesystem::absolute(target).parent_path();
    if (!std::filesystem::is_directory(parent, ec))
        throw Error(Exit::cant_create, "cannot write backup {}: no folder {}", target.string(),
                    parent.string());
}

void require_incremental_mode(const Database& db)
{
    if (db.query_int("PRAGMA auto_vacuum") != 2)
        throw Error(Exit::data, "{}: auto_vacuum is not incremental; run db-vacuum --migrate first",
                    db.path().string());
}

void remove_with_journals(const std::filesystem::path& file)
{
    std::error_code ec;
    for (const auto* suffix : {"", "-journal", "-wal", "-shm"})
        std::filesystem::remove(file.string() + suffix, ec);
}

// A fresh empty file beside `target`, named for this run alone (VACUUM INTO may write into an
// existing file when it is empty).
std::filesystem::path make_partial(const std::filesystem::path& target)
{
    std::string name = target.string() + ".XXXXXX.partial";
    const int fd = ::mkstemps(name.data(), static_cast<int>(std::string_view(".partial").size()));
    if (fd < 0)
        throw Error(Exit::cant_create, "cannot create a file beside backup {}: {}", target.string(),
                    std::strerror(errno));
    ::close(fd);
    return name;
}

// Puts the finished copy at `target` without ever replacing a file that appeared there.
void publish(const std::filesystem::path& partial, const std::filesystem::path& target)
{
    if (::link(partial.c_str(), target.c_str()) == 0) return;
    int error = errno;
    // File systems without hard links (vfat, some network ones) can still rename atomically.
    if (error == EPERM || error == ENOTSUP || error == EOPNOTSUPP) {
        if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0)
            return;
        error = errno;
    }
    throw Error(Exit::cant_create, "cannot create backup {}: {}", target.string(),
                std::strerror(error));
}

// The copy is written under a name of its own, flushed, and only then put in place: a run
// killed half-way leaves no half-made backup at `target`, and two runs never share a file.
void take_backup(Database& db, const std::filesystem::path& target)
{
    ensure_backup_target_free(target);
    const auto partial = make_partial(target);
    try {
        common::retry_busy([&] {
            auto statement = db.prepare("VACUUM INTO ?");
            statement.bind(1, partial.string()).run();
        });
        common::sync_path(partial);
        publish(partial, target);
        common::sync_path(std::filesystem::absolute(target).parent_path());
    } catch (...) {
        remove_with_journals(partial);
        throw;
    }
    remove_with_journals(partial);
}

// Rebuilds the file with VACUUM, after the optional backup. With `to_incremental` it also
// switches auto_vacuum to INCREMENTAL and verifies, before the checkpoint (reads see the WAL),
// that the switch took and that integrity_check says "ok": a checkpoint kept busy by a reader
// then leaves a verified database behind.
void rebuild(Database& db, const Options& options, Report& report, Steps& steps,
             bool to_incremental)
{
    if (options.backup) {
        steps.run("backup", [&] { take_backup(db, *options.backup); });
        report.backup = options.backup->string();
    }
    steps.run("vacuum", [&] {
        if (to_incremental) db.exec("PRAGMA auto_vacuum=INCREMENTAL");
        common::retry_busy([&] { db.exec("VACUUM"); });
    });
    if (to_incremental) {
        const auto mode = db.query_int("PRAGMA auto_vacuum");
        if (mode != 2)
            throw Error(Exit::software, "{}: auto_vacuum is {} after VACUUM, not incremental (2)",
                        db.path().string(), mode);
        report.check = run_check(db, CheckKind::full);
        steps.note("check", report.check->duration_ms);
        if (!report.check->ok())
            throw Error(
                Exit::data, "{}: integrity_check after the rebuild found {} problem(s), first: {}",
                db.path().string(), report.check->problems.size(), report.check->problems.front());
    }
}

// The page cache's size in pages (PRAGMA cache_size is pages when positive, KiB when negative).
std::int64_t cache_pages(const Database& db)
{
    const auto size = db.query_int("PRAGMA cache_size");
    return size >= 0 ? size
                     : -size * 1024 / std::max<std::int64_t>(1, db.query_int("PRAGMA page_size"));
}

void incremental(Database& db, std::int64_t pages, Steps& steps)
{
    require_incremental_mode(db);
    steps.run("incremental", [&] {
        // Freed pages are dirty pages: freeing more than the page cache holds in one statement
        // spills them all into the WAL, only to discard them at the checkpoint. Chunks that fit
        // in half the cache, each its own transaction, write almost nothing.
        const auto chunk = std::max<std::int64_t>(64, cache_pages(db) / 2);
        std::int64_t left = pages > 0 ? pages : db.query_int("PRAGMA freelist_count");
        while (left > 0) {
            const auto step = std::min(left, chunk);
            common::write_transaction(db, [&] {
                auto statement = db.prepare(fmt::format("PRAGMA incremental_vacuum({})", step));
                statement.run();
            });
            left -= step;
            if (db.query_int("PRAGMA freelist_count") == 0) break;
        }
    });
}

bool above_threshold(const Status& status, const Options& options)
{
    const auto allowed = static_cast<double>(options.threshold_pages) +
                         options.threshold_fraction * static_cast<double>(status.page_count);
    return static_cast<double>(status.freelist_pages) > allowed;
}

std::string_view check_name(CheckKind kind)
{
    return kind == CheckKind::full ? "integrity_check" : "quick_check";
}

}  // namespace

void preflight(const Database& db, const Options& options)
{
    if (options.action == Action::incremental) require_incremental_mode(db);
    if (options.action == Action::automatic) {
        // A timer must not rearrange the pages of a damaged file: it reports it instead.
        const auto check = run_check(db, CheckKind::quick);
        if (!check.ok())
            throw Error(Exit::data,
                        "{}: quick_check found {} problem(s), first: {}; not vacuumed (see "
                        "db-vacuum --check=full)",
                        db.path().string(), check.problems.size(), check.problems.front());
    }
    const auto status = read_status(db);
    if (!rebuilds(options, status)) return;
    if (options.backup) ensure_backup_target_free(*options.backup);
    ensure_room_for_rebuild(db, status, options.backup);
}

CheckResult run_check(const Database& db, CheckKind kind)
{
    const common::Stopwatch watch;
    CheckResult check;
    check.kind = kind;
    std::vector<std::string> answer;
    try {
        auto statement = db.prepare(fmt::format("PRAGMA {}(100)", check_name(kind)));
        while (statement.step())
            answer.push_back(statement.column_text(0));
    } catch (const common::SqliteError& error) {
        // A page too damaged to read ends the check; what it found until then still counts.
        if (error.code() != Exit::data) throw;
        answer.push_back(error.what());
    }
    if (answer.empty())
        check.problems.push_back("the check returned nothing");
    else if (!(answer.size() == 1 && answer.front() == "ok"))
        check.problems = std::move(answer);
    check.duration_ms = watch.elapsed_ms();
    return check;
}

namespace {

// The action itself, once preflight() has passed; fills `report` as it goes, so that when it
// throws, `report.steps` shows what was done.
void execute(Database& db, const Options& options, Report& report, std::ostream* log)
{
    const common::Stopwatch watch;
    report.action = options.action;
    report.database = db.path().string();
    report.before = read_status(db);
    Steps steps(report, log);

    switch (options.action) {
    case Action::status: break;
    case Action::check:
        report.check = run_check(db, options.check);
        steps.note(std::string(check_name(options.check)), report.check->duration_ms);
        break;
    case Action::migrate:
        if (rebuilds(options, report.before))
            rebuild(db, options, report, steps, true);
        else
            report.steps.push_back("already-incremental");
        break;
    case Action::incremental: incremental(db, options.incremental_pages, steps); break;
    case Action::full: rebuild(db, options, report, steps, false); break;
    case Action::checkpoint: break;
    case Action::automatic:
        if (rebuilds(options, report.before))
            rebuild(db, options, report, steps, true);
        else if (above_threshold(report.before, options))
            incremental(db, 0, steps);
        steps.run("optimize", [&] { db.exec("PRAGMA optimize"); });
        break;
    }
    if (options.action != Action::status && options.action != Action::check) {
        // Every change ends in the WAL: the file shrinks only when it is copied back.
        steps.run("checkpoint", [&] { db.checkpoint_truncate(); });
        report.after = read_status(db);
    }
    report.durations["total"] = watch.elapsed_ms();
}

}  // namespace

Report perform(Database& db, const Options& options)
{
    preflight(db, options);
    Report report;
    execute(db, options, report, nullptr);
    return report;
}

bool record_run(Database& db, const Report& report, common::TimePoint started,
                common::TimePoint finished, std::string_view failure,
                const common::RetryPolicy& retry)
{
    if (!common::schema::installed_version(db)) return false;
    common::write_transaction(
        db,
        [&] {
            auto insert = db.prepare(
                "INSERT INTO maintenance_runs (tool, started_at, finished_at, outcome, summary) "
                "VALUES ('db-vacuum', ?, ?, ?, ?)");
            auto summary = to_json(report);
            summary["recorded"] = true;
            const bool failed = !failure.empty() || (report.check && !report.check->ok());
            if (!failure.empty()) summary["error"] = failure;
            insert.bind(1, common::sql_timestamp(started))
                .bind(2, common::sql_timestamp(finished))
                .bind(3, failed ? "failed" : "ok")
                .bind(4, common::json_text(summary))
                .run();
        },
        retry);
    return true;
}

namespace {

void print_report(std::ostream& out, const Options& options, const Report& report)
{
    if (options.shared.format == "text")
        out << to_text(report);
    else
        common::write_json_line(out, to_json(report));
}

bool is_empty_file(const std::filesystem::path& path)
{
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0;
}

// An application that has created its database but not written to it yet leaves an empty
// file. Writing to it now could fix settings the application has yet to choose (the page
// size cannot change in WAL mode), so it is reported and left alone.
int report_empty_database(const Options& options, std::ostream& out)
{
    const auto db = Database::open(
        options.shared.database,
        {.mode = common::OpenMode::read_only, .busy_timeout_ms = options.shared.busy_timeout_ms});
    Report report;
    report.action = options.action;
    report.database = db.path().string();
    report.before = read_status(db);
    report.after = report.before;
    report.steps = {"empty-database"};
    print_report(out, options, report);
    return 0;
}

}  // namespace

int run(const Options& options, std::ostream& out, std::ostream& err)
{
    const auto clock = common::system_clock();
    const auto started = clock();
    const bool writes = options.action != Action::status && options.action != Action::check;
    if (writes && is_empty_file(options.shared.database))
        return report_empty_database(options, out);

    const common::OpenOptions open_options{.mode = writes ? common::OpenMode::read_write
                                                          : common::OpenMode::read_only,
                                           .busy_timeout_ms = options.shared.busy_timeout_ms};
    // Whatever can refuse the action is checked on a read-only connection first, so that a
    // refused database is left as it was. Opening for writing switches the file to WAL: the
    // probe also sees the journal mode the file had before.
    std::string journal_before;
    const auto precheck = [&](const Database& probe) {
        preflight(probe, options);
        journal_before = probe.query_text("PRAGMA journal_mode");
    };
    auto db =
        writes ? common::schema::open_for_writing(options.shared.database, open_options, precheck)
               : Database::open(options.shared.database, open_options);
    common::schema::ensure_supported(db);

    int lost = 0;
    if (writes && common::schema::installed_version(db)) {
        common::schema::migrate(db);
        lost = common::mark_lost_runs(db);
    }
    std::ostream* log = options.shared.verbose ? &err : nullptr;
    if (log)
        *log << fmt::format("db-vacuum: {} on {}\n", action_name(options.action),
                            db.path().string());

    Report report;
    report.lost_runs_marked = lost;
    const auto restore_journal_before = [&] {
        if (!journal_before.empty()) report.before.journal_mode = journal_before;
    };
    try {
        // run() did the preflight on the read-only probe.
        execute(db, options, report, log);
        restore_journal_before();
    } catch (const Error& error) {
        restore_journal_before();
        // A run that failed after changing something belongs in the audit trail too; one
        // attempt, so that a busy database does not keep the error waiting.
        if (writes && options.record && !report.steps.empty()) {
            try {
                record_run(db, report, started, clock(), error.what(), {.attempts = 1});
            } catch (const Error&) {
                // The error being reported matters more than the record of it.
            }
        }
        throw;
    }
    if (writes && options.record) report.recorded = record_run(db, report, started, clock());
    print_report(out, options, report);

    if (report.check && !report.check->ok())
        throw Error(Exit::data, "{}: {} found {} problem(s); first: {}", db.path().string(),
                    check_name(report.check->kind), report.check->problems.size(),
                    report.check->problems.front());
    return 0;
}

}  // namespace db_vacuum
