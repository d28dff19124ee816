#include "db_vacuum.hpp"

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <system_error>

namespace db_vacuum {
namespace {

using common::Database;
using common::Error;
using common::Exit;

// Room a rebuild needs beside the database: the temporary copy VACUUM builds and the WAL
// it writes the new pages into, each as large as the live data, plus a margin.
constexpr std::uint64_t rebuild_margin_bytes = 1 << 20;

class Steps {
public:
    explicit Steps(Report& report) : m_report(report) {}

    // Runs `work`, noting its name and duration in the report.
    template <typename Work> void run(const std::string& name, Work&& work)
    {
        const common::Stopwatch watch;
        work();
        m_report.durations[name] += watch.elapsed_ms();
        m_report.steps.push_back(name);
    }

private:
    Report& m_report;
};

void ensure_room_for_rebuild(const Database& db, const Status& status,
                             const std::optional<std::filesystem::path>& backup)
{
    const auto live = status.live_bytes();
    const auto directory = std::filesystem::absolute(db.path()).parent_path();
    const auto needed = 2 * live + rebuild_margin_bytes;
    const auto available = common::available_space(directory);
    if (available < needed)
        throw Error(
            Exit::io, "not enough free space in {} to rebuild the database: need {}, have {}",
            directory.string(), common::human_bytes(needed), common::human_bytes(available));
    if (backup) {
        const auto backup_room =
            common::available_space(std::filesystem::absolute(*backup).parent_path());
        if (backup_room < live + rebuild_margin_bytes)
            throw Error(Exit::io, "not enough free space for the backup {}: need {}, have {}",
                        backup->string(), common::human_bytes(live + rebuild_margin_bytes),
                        common::human_bytes(backup_room));
    }
}

void take_backup(Database& db, const std::filesystem::path& target)
{
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(target, ec)))
        throw Error(Exit::cant_create, "backup {} already exists; not overwriting it",
                    target.string());
    const auto parent = std::filesystem::absolute(target).parent_path();
    if (!std::filesystem::is_directory(parent, ec))
        throw Error(Exit::cant_create, "cannot write backup {}: no folder {}", target.string(),
                    parent.string());
    common::retry_busy([&] {
        auto statement = db.prepare("VACUUM INTO ?");
        statement.bind(1, target.string()).run();
    });
}

void vacuum(Database& db)
{
    common::retry_busy([&] { db.exec("VACUUM"); });
}

void require_check_ok(const CheckResult& check, const Database& db)
{
    if (check.ok()) return;
    throw Error(Exit::data, "{}: integrity_check after the rebuild found {} problem(s), first: {}",
                db.path().string(), check.problems.size(), check.problems.front());
}

// Rebuilds the file with VACUUM after the free-space check and the optional backup. With
// `to_incremental` it also switches auto_vacuum to INCREMENTAL and verifies that the switch
// took and that integrity_check says "ok".
void rebuild(Database& db, const Options& options, Report& report, Steps& steps,
             bool to_incremental)
{
    ensure_room_for_rebuild(db, report.before, options.backup);
    if (options.backup) {
        steps.run("backup", [&] { take_backup(db, *options.backup); });
        report.backup = options.backup->string();
    }
    steps.run("vacuum", [&] {
        if (to_incremental) db.exec("PRAGMA auto_vacuum=INCREMENTAL");
        vacuum(db);
    });
    steps.run("checkpoint", [&] { db.checkpoint_truncate(); });
    if (!to_incremental) return;

    const auto mode = db.query_int("PRAGMA auto_vacuum");
    if (mode != 2)
        throw Error(Exit::software, "{}: auto_vacuum is {} after VACUUM, not incremental (2)",
                    db.path().string(), mode);
    report.check = run_check(db, CheckKind::full);
    report.durations["check"] += report.check->duration_ms;
    report.steps.push_back("check");
    require_check_ok(*report.check, db);
}

// The page cache's size in pages (PRAGMA cache_size is pages when positive, KiB when negative).
std::int64_t cache_pages(const Database& db)
{
    const auto size = db.query_int("PRAGMA cache_size");
    return size >= 0 ? size
                     : -size * 1024 / std::max<std::int64_t>(1, db.query_int("PRAGMA page_size"));
}

void require_incremental_mode(const Database& db)
{
    if (db.query_int("PRAGMA auto_vacuum") != 2)
        throw Error(Exit::data, "{}: auto_vacuum is not incremental; run db-vacuum --migrate first",
                    db.path().string());
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
            common::retry_busy([&] {
                auto statement = db.prepare(fmt::format("PRAGMA incremental_vacuum({})", step));
                statement.run();
            });
            left -= step;
            if (db.query_int("PRAGMA freelist_count") == 0) break;
        }
    });
    steps.run("checkpoint", [&] { db.checkpoint_truncate(); });
}

bool above_threshold(const Status& status, const Options& options)
{
    const auto allowed = static_cast<double>(options.threshold_pages) +
                         options.threshold_fraction * static_cast<double>(status.page_count);
    return static_cast<double>(status.freelist_pages) > allowed;
}

}  // namespace

CheckResult run_check(const Database& db, CheckKind kind)
{
    const common::Stopwatch watch;
    CheckResult check;
    check.kind = kind;
    const char* sql =
        kind == CheckKind::full ? "PRAGMA integrity_check(100)" : "PRAGMA quick_check(100)";
    try {
        auto statement = db.prepare(sql);
        std::vector<std::string> answer;
        while (statement.step())
            answer.push_back(statement.column_text(0));
        if (answer.empty())
            check.problems.push_back("the check returned nothing");
        else if (!(answer.size() == 1 && answer.front() == "ok"))
            check.problems = std::move(answer);
    } catch (const common::SqliteError& error) {
        if (error.code() != Exit::data) throw;
        check.problems.push_back(error.what());
    }
    check.duration_ms = watch.elapsed_ms();
    return check;
}

Report perform(Database& db, const Options& options)
{
    Report report;
    perform(db, options, report);
    return report;
}

void perform(Database& db, const Options& options, Report& report)
{
    const common::Stopwatch watch;
    report.action = options.action;
    report.database = db.path().string();
    report.before = read_status(db);
    Steps steps(report);

    switch (options.action) {
    case Action::status: break;
    case Action::check:
        report.check = run_check(db, options.check);
        report.durations["check"] = report.check->duration_ms;
        report.steps.push_back(options.check == CheckKind::full ? "integrity_check"
                                                                : "quick_check");
        break;
    case Action::migrate:
        if (report.before.auto_vacuum == "incremental") {
            report.steps.push_back("already-incremental");
            break;
        }
        rebuild(db, options, report, steps, true);
        break;
    case Action::incremental: incremental(db, options.incremental_pages, steps); break;
    case Action::full: rebuild(db, options, report, steps, false); break;
    case Action::checkpoint: steps.run("checkpoint", [&] { db.checkpoint_truncate(); }); break;
    case Action::automatic:
        if (report.before.auto_vacuum != "incremental")
            rebuild(db, options, report, steps, true);
        else if (above_threshold(report.before, options))
            incremental(db, 0, steps);
        // optimize may write statistics, so the WAL is emptied after it.
        steps.run("optimize", [&] { db.exec("PRAGMA optimize"); });
        steps.run("checkpoint", [&] { db.checkpoint_truncate(); });
        break;
    }
    if (options.action != Action::status && options.action != Action::check)
        report.after = read_status(db);
    report.durations["total"] = watch.elapsed_ms();
}

bool record_run(Database& db, const Report& report, common::TimePoint started,
                common::TimePoint finished, std::string_view failure)
{
    if (!common::schema::installed_version(db)) return false;
    common::write_transaction(db, [&] {
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
    });
    return true;
}

int run(const Options& options, std::ostream& out, std::ostream& err)
{
    const auto clock = common::system_clock();
    const auto started = clock();
    const bool writes = options.action != Action::status && options.action != Action::check;

    const common::OpenOptions open_options{.mode = writes ? common::OpenMode::read_write
                                                          : common::OpenMode::read_only,
                                           .busy_timeout_ms = options.shared.busy_timeout_ms};
    // Opening for writing switches the file to WAL; the probe sees the mode it had before.
    std::string journal_before;
    const auto precheck = [&](const Database& probe) {
        journal_before = probe.query_text("PRAGMA journal_mode");
        if (options.action == Action::incremental) require_incremental_mode(probe);
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
    if (options.shared.verbose)
        err << fmt::format("db-vacuum: {} on {}\n", action_name(options.action),
                           db.path().string());

    Report report;
    report.lost_runs_marked = lost;
    const auto restore_journal_before = [&] {
        if (!journal_before.empty()) report.before.journal_mode = journal_before;
    };
    try {
        perform(db, options, report);
        restore_journal_before();
    } catch (const Error& error) {
        restore_journal_before();
        // A run that failed after changing something belongs in the audit trail too. A busy
        // database would only make the record wait as long again, so that one is not recorded.
        const bool changed = !report.steps.empty();
        if (writes && options.record && changed && error.code() != Exit::temp_fail) {
            try {
                record_run(db, report, started, clock(), error.what());
            } catch (const Error&) {
                // The error being reported matters more than the record of it.
            }
        }
        throw;
    }
    if (writes && options.record) report.recorded = record_run(db, report, started, clock());

    if (options.shared.format == "text")
        out << to_text(report);
    else
        common::write_json_line(out, to_json(report));

    if (report.check && !report.check->ok()) {
        err << fmt::format(
            "db-vacuum: error: {}: {} found {} problem(s); first: {}\n", db.path().string(),
            report.check->kind == CheckKind::full ? "integrity_check" : "quick_check",
            report.check->problems.size(), report.check->problems.front());
        return common::to_int(Exit::data);
    }
    return 0;
}

}  // namespace db_vacuum
