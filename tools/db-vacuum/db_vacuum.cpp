#include "db_vacuum.hpp"

#include "backup.hpp"

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json.hpp"
#include "common/records.hpp"
#include "common/runner.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"
#include "common/stop_signal.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

namespace db_vacuum {
namespace {

using common::Database;
using common::Error;
using common::Exit;

// Kept free beyond what a rebuild is computed to need.
constexpr std::uint64_t rebuild_margin_bytes = 1 << 20;

// Thrown between steps and from retries once SIGINT or SIGTERM has arrived; run() turns it
// into 130 or 143.
void stop_if_asked(const std::atomic<bool>* stop)
{
    if (stop && stop->load()) throw Error(Exit::temp_fail, "stopped by a signal");
}

// Runs the steps of an action, noting each one's name and duration in the report, and with
// --verbose saying so on stderr. No step starts once `stop` is set.
class Steps {
public:
    Steps(Report& report, const common::Log* log, const std::atomic<bool>* stop)
        : m_report(report), m_log(log), m_stop(stop)
    {
    }

    template <typename Work> void run(const std::string& name, Work&& work)
    {
        stop_if_asked(m_stop);
        const common::Stopwatch watch;
        work();
        note(name, watch.elapsed_ms());
    }

    void note(const std::string& name, double duration_ms)
    {
        m_report.durations[name] += duration_ms;
        m_report.steps.push_back(name);
        if (m_log) m_log->step(fmt::format("{} done in {:.1f} ms", name, duration_ms));
    }

    const common::Log* log() const { return m_log; }
    const std::atomic<bool>* stop() const { return m_stop; }

private:
    Report& m_report;
    const common::Log* m_log;
    const std::atomic<bool>* m_stop;
};

// A TRUNCATE checkpoint fails at once while another connection checkpoints (SQLite takes that
// lock without waiting), and a writer or reader that comes and goes in milliseconds can end
// its wait too: it is tried again until the connection's busy timeout is spent, each attempt
// waiting only for what is left of it, before the busy error stands (exit 75). A set `stop`
// ends the retries at once.
void checkpoint_within_busy_timeout(Database& db, const common::Log* log,
                                    const std::atomic<bool>* stop)
{
    using namespace std::chrono_literals;
    using Clock = std::chrono::steady_clock;
    const auto timeout_ms = db.busy_timeout_ms();
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    auto pause = 5ms;
    for (int attempt = 1;; ++attempt) {
        try {
            db.checkpoint_truncate();
            break;
        } catch (const common::SqliteError& error) {
            if (!error.is_busy() || Clock::now() + pause >= deadline || (stop && stop->load())) {
                db.set_busy_timeout(timeout_ms);
                if (error.is_busy()) stop_if_asked(stop);
                throw;
            }
        }
        if (log && attempt == 1)
            log->step(fmt::format("checkpoint busy, retrying for up to {} ms", timeout_ms));
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(100));
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        db.set_busy_timeout(static_cast<int>(std::max<std::int64_t>(1, left.count())));
    }
    db.set_busy_timeout(timeout_ms);
}

bool rebuilds(const Options& options, const Status& status)
{
    switch (options.action) {
    case Action::full: return true;
    case Action::migrate:
    case Action::automatic: return status.auto_vacuum != "incremental";
    default: return false;
    }
}

// A rebuild writes the live pages up to three times: into SQLite's temporary copy (unless it
// is kept in memory), into the WAL beside the database, and into the backup when one is
// asked for. Folders on one file system share its free space, so the needs are added up per
// file system.
void ensure_room_for_rebuild(const Database& db, const Status& status,
                             const std::optional<std::filesystem::path>& backup, const Host& host,
                             const RebuildPlan& plan)
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
    if (!plan.temp_in_memory) add(host.sqlite_temp_dir, live);
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

// Names undefined collations and functions, which VACUUM and the checks would stumble on.
void refuse_undefined_names(const Database& db, Action action)
{
    const auto undefined = db.undefined_names();
    if (undefined.empty()) return;
    std::vector<std::string> parts;
    const auto quoted = [](const std::vector<std::string>& names) {
        std::vector<std::string> out;
        for (const auto& name : names)
            out.push_back(fmt::format("\"{}\"", name));
        return fmt::format("{}", fmt::join(out, ", "));
    };
    if (!undefined.collations.empty())
        parts.push_back(fmt::format("collation{} {}", undefined.collations.size() > 1 ? "s" : "",
                                    quoted(undefined.collations)));
    if (!undefined.functions.empty())
        parts.push_back(fmt::format("function{} {}", undefined.functions.size() > 1 ? "s" : "",
                                    quoted(undefined.functions)));
    throw Error(Exit::data,
                "{}: its indexes or tables use {}, which only the application that owns the "
                "database defines; db-vacuum cannot {} it: that application must run {} itself",
                db.path().string(), fmt::join(parts, " and "),
                action == Action::check ? "check" : "rebuild",
                action == Action::check ? "the check" : "VACUUM");
}

void require_incremental_mode(const Database& db)
{
    if (db.query_int("PRAGMA auto_vacuum") != 2)
        throw Error(Exit::data, "{}: auto_vacuum is not incremental; run db-vacuum --migrate first",
                    db.path().string());
}

// Rebuilds the file with VACUUM, after the optional backup, with the settings of `plan` and
// the old pages read through mmap. With `to_incremental` it also switches auto_vacuum to
// INCREMENTAL, checkpoints, and verifies that the switch took and that integrity_check says
// "ok". The check reads the checkpointed file through mmap, much faster than page by page
// from the WAL, on one connection per core (integrity.hpp); when the checkpoint stays busy
// past the busy timeout, the check reads the WAL instead and the busy error follows it, so
// that a verified database is left behind either way. Returns whether it checkpointed.
bool rebuild(Database& db, const Options& options, const RebuildPlan& plan, Report& report,
             Steps& steps, const common::RetryPolicy& retry, bool to_incremental)
{
    if (plan.temp_in_memory) db.exec("PRAGMA temp_store=MEMORY");
    if (options.backup) {
        steps.run("backup", [&] { take_backup(db, *options.backup, retry); });
        report.backup = options.backup->string();
    }
    steps.run("vacuum", [&] {
        if (to_incremental) db.exec("PRAGMA auto_vacuum=INCREMENTAL");
        const MappedReads mapped(db);
        common::retry_busy([&] { db.exec("VACUUM"); }, retry);
    });
    if (!to_incremental) return false;

    // A checkpoint still busy is not a step done: it is said, and its error follows the check.
    std::optional<common::SqliteError> busy;
    stop_if_asked(steps.stop());
    const common::Stopwatch checkpoint_watch;
    try {
        checkpoint_within_busy_timeout(db, steps.log(), steps.stop());
        steps.note("checkpoint", checkpoint_watch.elapsed_ms());
    } catch (const common::SqliteError& error) {
        if (!error.is_busy()) throw;
        busy = error;
        if (steps.log())
            steps.log()->step(fmt::format("checkpoint still busy after {:.1f} ms: the check "
                                          "reads the WAL",
                                          checkpoint_watch.elapsed_ms()));
    }
    const auto mode = db.query_int("PRAGMA auto_vacuum");
    if (mode != 2)
        throw Error(Exit::software, "{}: auto_vacuum is {} after VACUUM, not incremental (2)",
                    db.path().string(), mode);
    stop_if_asked(steps.stop());
    report.check = run_check(db, CheckKind::full, plan.check_connections, steps.stop());
    steps.note("check", report.check->duration_ms);
    if (!report.check->ok())
        throw Error(
            Exit::data, "{}: integrity_check after the rebuild found {} problem(s), first: {}",
            db.path().string(), report.check->problems.size(), report.check->problems.front());
    if (busy) throw *busy;
    return true;
}

// The page cache's size in pages (PRAGMA cache_size is pages when positive, KiB when negative).
std::int64_t cache_pages(const Database& db)
{
    const auto size = db.query_int("PRAGMA cache_size");
    return size >= 0 ? size
                     : -size * 1024 / std::max<std::int64_t>(1, db.query_int("PRAGMA page_size"));
}

void incremental(Database& db, std::int64_t pages, Steps& steps, const common::RetryPolicy& retry)
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
            common::write_transaction(
                db,
                [&] {
                    auto statement = db.prepare(fmt::format("PRAGMA incremental_vacuum({})", step));
                    statement.run();
                },
                retry);
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

std::string signal_name(int signal)
{
    return signal == SIGINT ? "SIGINT" : "SIGTERM";
}

std::string_view check_name(CheckKind kind)
{
    return kind == CheckKind::full ? "integrity_check" : "quick_check";
}

}  // namespace

Preflight preflight(const Database& db, const Options& options, const Host& host)
{
    Preflight found;
    found.plan.check_connections = host.cores;
    found.status = read_status(db);
    found.rebuilds = rebuilds(options, found.status);
    if (found.rebuilds || options.action == Action::check || options.action == Action::automatic)
        refuse_undefined_names(db, options.action);
    if (options.action == Action::incremental) require_incremental_mode(db);
    // A timer must not rearrange the pages of a damaged file: it reports it instead. Nor is
    // a damaged rollback-journal file switched to WAL (opening it for writing does) by an
    // action that its damage would then stop: a refused database is left as it was.
    const bool switches_to_wal = options.action != Action::status &&
                                 options.action != Action::check &&
                                 found.status.journal_mode != "wal";
    if (options.action == Action::automatic || switches_to_wal) {
        const auto check = run_check(db, CheckKind::quick);
        if (!check.ok())
            throw Error(Exit::data,
                        "{}: quick_check found {} problem(s), first: {}; not vacuumed (see "
                        "db-vacuum --check=full)",
                        db.path().string(), check.problems.size(), check.problems.front());
    }
    if (!found.rebuilds) return found;
    if (options.backup) ensure_backup_target_free(*options.backup);
    // SQLite's temporary copy is kept in memory when the live pages take at most a quarter of
    // the available memory, which measured faster (bench/README.md); otherwise in its temp
    // folder, which must then have the room.
    found.plan.temp_in_memory =
        host.available_memory && found.status.live_bytes() <= *host.available_memory / 4;
    ensure_room_for_rebuild(db, found.status, options.backup, host, found.plan);
    return found;
}

namespace {

// The action itself, once preflight() has passed; fills `report` as it goes, so that when it
// throws, `report.steps` shows what was done.
void execute(Database& db, const Options& options, const Preflight& found, Report& report,
             const common::Log* log, const std::atomic<bool>* stop)
{
    const common::Stopwatch watch;
    auto retry = log ? log->retry_policy() : common::RetryPolicy{};
    retry.on_retry = [tell = retry.on_retry, stop](int attempt, std::chrono::milliseconds wait,
                                                   const common::SqliteError& error) {
        stop_if_asked(stop);
        if (tell) tell(attempt, wait, error);
    };
    report.action = options.action;
    report.database = db.path().string();
    report.before = found.status;
    Steps steps(report, log, stop);

    bool checkpointed = false;
    switch (options.action) {
    case Action::status: break;
    case Action::check:
        report.check = run_check(db, options.check, found.plan.check_connections, stop);
        steps.note(std::string(check_name(options.check)), report.check->duration_ms);
        break;
    case Action::migrate:
        if (found.rebuilds)
            checkpointed = rebuild(db, options, found.plan, report, steps, retry, true);
        else
            report.steps.push_back("already-incremental");
        break;
    case Action::incremental: incremental(db, options.incremental_pages, steps, retry); break;
    case Action::full: rebuild(db, options, found.plan, report, steps, retry, false); break;
    case Action::checkpoint: break;
    case Action::automatic:
        if (found.rebuilds)
            rebuild(db, options, found.plan, report, steps, retry, true);
        else if (above_threshold(found.status, options))
            incremental(db, 0, steps, retry);
        steps.run("optimize", [&] { db.exec("PRAGMA optimize"); });
        break;
    }
    if (options.action != Action::status && options.action != Action::check) {
        // Every change ends in the WAL: the file shrinks only when it is copied back.
        if (!checkpointed)
            steps.run("checkpoint", [&] { checkpoint_within_busy_timeout(db, log, stop); });
        report.after = read_status(db);
    }
    report.durations["total"] = watch.elapsed_ms();
}

}  // namespace

Report perform(Database& db, const Options& options, const Host& host)
{
    const auto found = preflight(db, options, host);
    Report report;
    execute(db, options, found, report, nullptr, nullptr);
    return report;
}

bool record_run(Database& db, const Report& report, common::TimePoint started,
                common::TimePoint finished, std::string_view failure,
                const common::RetryPolicy& retry)
{
    if (!common::schema::installed_version(db)) return false;
    auto summary = to_json(report);
    summary["recorded"] = true;
    if (!failure.empty()) summary["error"] = failure;
    common::record_maintenance_run(
        db,
        {.tool = "db-vacuum",
         .started_at = started,
         .finished_at = finished,
         .failed = !failure.empty() || (report.check && !report.check->ok()),
         .summary = common::json_text(summary)},
        retry);
    return true;
}

namespace {

// --quiet leaves out the report for people; JSON is for programs and always printed.
void print_report(std::ostream& out, const Options& options, const Report& report)
{
    if (options.shared.format == "text") {
        if (!options.shared.quiet) out << to_text(report);
    } else
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

namespace {

// Opens the database the way the action needs: whatever can refuse it is checked on a
// read-only connection first, so that a refused database is left as it was (opening for
// writing switches the file to WAL).
Database open_for(const Options& options, const Host& host, const common::Log& log,
                  const std::atomic<bool>& stop, bool writes, Preflight& found)
{
    const common::OpenOptions read_only{.mode = common::OpenMode::read_only,
                                        .busy_timeout_ms = options.shared.busy_timeout_ms,
                                        .stop = &stop};
    {
        auto probe = Database::open(options.shared.database, read_only);
        probe.interrupt_when(&stop);
        if (probe.is_immutable())
            log.step(fmt::format("{}: no -shm file can be made beside it: read as an immutable "
                                 "file",
                                 probe.path().string()));
        common::schema::ensure_supported(probe);
        found = preflight(probe, options, host);
        if (!writes) return probe;
    }
    stop_if_asked(&stop);
    return Database::open(options.shared.database,
                          {.mode = common::OpenMode::read_write,
                           .busy_timeout_ms = options.shared.busy_timeout_ms,
                           .stop = &stop});
}

// A run that failed or was stopped after changing something belongs in the audit trail too;
// one attempt, so that a busy database does not keep the error waiting, and statements no
// longer interrupted, so that the record of a stop can be written.
void record_failure(Database& db, const Report& report, common::TimePoint started,
                    common::TimePoint finished, std::string_view failure)
{
    db.interrupt_when(nullptr);
    try {
        record_run(db, report, started, finished, failure, {.attempts = 1});
    } catch (const Error&) {
        // The error being reported matters more than the record of it.
    }
}

int run_watched(const Options& options, const Host& host, std::ostream& out, std::ostream& err,
                common::StopSignal& signals, Report& report)
{
    const auto clock = common::system_clock();
    const auto started = clock();
    const common::Log log("db-vacuum", err, options.shared);
    const auto retry = log.retry_policy();
    const bool writes = options.action != Action::status && options.action != Action::check;
    if (writes && is_empty_file(options.shared.database))
        return report_empty_database(options, out);

    Preflight found;
    auto db = [&] {
        try {
            return open_for(options, host, log, signals.flag(), writes, found);
        } catch (const Error&) {
            // Stopped while the file was being opened (waiting for a lock to switch it to
            // WAL, say): the report still says so, with nothing done.
            if (const auto signal = signals.signal()) {
                report.action = options.action;
                report.database = options.shared.database.string();
                report.before = found.status;
                report.interrupted = signal_name(*signal);
                print_report(out, options, report);
            }
            throw;
        }
    }();
    db.interrupt_when(&signals.flag());
    if (writes && common::schema::installed_version(db)) {
        common::schema::migrate(db, retry);
        report.lost_runs_marked = common::mark_lost_runs(db, retry);
    }
    log.step(fmt::format("{} on {}", action_name(options.action), db.path().string()));

    try {
        execute(db, options, found, report, &log, &signals.flag());
    } catch (const Error& error) {
        const auto signal = signals.signal();
        if (signal) report.interrupted = signal_name(*signal);
        if (writes && options.record && !report.steps.empty())
            record_failure(db, report, started, clock(),
                           signal ? fmt::format("stopped by {}", *report.interrupted)
                                  : std::string(error.what()));
        // The problems a check after a rebuild found are listed, as --check lists them; a
        // stopped run, or one that failed after changing the file, says what it did.
        if (!signal && !report.steps.empty()) report.error = common::one_line(error.what());
        if ((report.check && !report.check->ok()) || signal || !report.steps.empty())
            print_report(out, options, report);
        throw;
    }
    db.interrupt_when(nullptr);
    if (writes && options.record)
        report.recorded = record_run(db, report, started, clock(), {}, retry);
    print_report(out, options, report);

    if (report.check && !report.check->ok())
        throw Error(Exit::data, "{}: {} found {} problem(s); first: {}", db.path().string(),
                    check_name(report.check->kind), report.check->problems.size(),
                    report.check->problems.front());
    return 0;
}

}  // namespace

int run(const Options& options, const Host& host, std::ostream& out, std::ostream& err)
{
    // Before the check's threads start, so that they leave SIGINT and SIGTERM to it.
    common::StopSignal signals;
    Report report;
    try {
        return run_watched(options, host, out, err, signals, report);
    } catch (const Error& error) {
        const auto signal = signals.signal();
        if (!signal) throw;
        err << fmt::format("db-vacuum: stopped by {} after: {}\n", signal_name(*signal),
                           report.steps.empty() ? "nothing"
                                                : fmt::format("{}", fmt::join(report.steps, ", ")));
        return 128 + *signal;
    }
}

}  // namespace db_vacuum
