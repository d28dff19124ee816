#include "report.hpp"

#include "common/files.hpp"
#include "common/schema.hpp"

#include <fmt/format.h>

namespace db_vacuum {
namespace {

std::uint64_t total_bytes(const Status& status)
{
    return status.file_bytes + status.wal_bytes;
}

std::string status_lines(const Status& status)
{
    const double free_percent = status.page_count > 0
                                    ? 100.0 * static_cast<double>(status.freelist_pages) /
                                          static_cast<double>(status.page_count)
                                    : 0.0;
    return fmt::format(
        "  file         {} (WAL {})\n"
        "  pages        {} of {} B, {} free ({:.2f} %, {})\n"
        "  auto_vacuum  {}, journal {}, user_version {}, toolkit schema {}\n",
        common::human_bytes(status.file_bytes), common::human_bytes(status.wal_bytes),
        status.page_count, status.page_size, status.freelist_pages, free_percent,
        common::human_bytes(status.freelist_bytes()), status.auto_vacuum, status.journal_mode,
        status.user_version,
        status.toolkit_schema_version ? std::to_string(*status.toolkit_schema_version) : "none");
}

}  // namespace

std::uint64_t Status::freelist_bytes() const
{
    return static_cast<std::uint64_t>(freelist_pages) * static_cast<std::uint64_t>(page_size);
}

std::uint64_t Status::live_bytes() const
{
    return static_cast<std::uint64_t>(page_count - freelist_pages) *
           static_cast<std::uint64_t>(page_size);
}

Status read_status(const common::Database& db)
{
    Status status;
    const auto file = db.file_path();
    status.file_bytes = common::size_or_zero(file);
    status.wal_bytes = common::size_or_zero(file.string() + "-wal");
    status.page_size = db.query_int("PRAGMA page_size");
    status.page_count = db.query_int("PRAGMA page_count");
    status.freelist_pages = db.query_int("PRAGMA freelist_count");
    status.auto_vacuum = common::auto_vacuum_mode(db);
    status.journal_mode = db.query_text("PRAGMA journal_mode");
    status.user_version = db.query_int("PRAGMA user_version");
    status.toolkit_schema_version = common::schema::installed_version(db);
    return status;
}

std::uint64_t Report::reclaimed_bytes() const
{
    if (!after) return 0;
    const auto old_size = total_bytes(before);
    const auto new_size = total_bytes(*after);
    return old_size > new_size ? old_size - new_size : 0;
}

common::Json to_json(const Status& status)
{
    return {
        {"file_bytes", status.file_bytes},
        {"wal_bytes", status.wal_bytes},
        {"page_size", status.page_size},
        {"page_count", status.page_count},
        {"freelist_pages", status.freelist_pages},
        {"freelist_bytes", status.freelist_bytes()},
        {"auto_vacuum", status.auto_vacuum},
        {"journal_mode", status.journal_mode},
        {"user_version", status.user_version},
        {"toolkit_schema_version", status.toolkit_schema_version
                                       ? common::Json(*status.toolkit_schema_version)
                                       : common::Json(nullptr)},
    };
}

common::Json to_json(const CheckResult& check)
{
    return {
        {"kind", check.kind == CheckKind::full ? "integrity_check" : "quick_check"},
        {"ok", check.ok()},
        {"problems", check.problems},
        {"duration_ms", check.duration_ms},
    };
}

common::Json to_json(const Report& report)
{
    common::Json out{
        {"tool", "db-vacuum"},
        {"schema_version", output_schema_version},
        {"action", action_name(report.action)},
        {"database", report.database},
        {"before", to_json(report.before)},
        {"after", report.after ? to_json(*report.after) : common::Json(nullptr)},
        {"reclaimed_bytes", report.reclaimed_bytes()},
        {"steps", report.steps},
        {"durations_ms", report.durations},
        {"check", report.check ? to_json(*report.check) : common::Json(nullptr)},
        {"backup", report.backup ? common::Json(*report.backup) : common::Json(nullptr)},
        {"lost_runs_marked", report.lost_runs_marked},
        {"recorded", report.recorded},
    };
    if (report.interrupted) out["interrupted"] = *report.interrupted;
    if (report.error) out["error"] = *report.error;
    return out;
}

std::string to_text(const Report& report)
{
    std::string text = fmt::format("{}: {}\n", action_name(report.action), report.database);
    text += report.after ? "before\n" : "";
    text += status_lines(report.before);
    if (report.after) {
        text += "after\n" + status_lines(*report.after);
        const auto old_size = total_bytes(report.before);
        const auto new_size = total_bytes(*report.after);
        const auto change =
            new_size > old_size
                ? fmt::format("grew by {}", common::human_bytes(new_size - old_size))
                : fmt::format("reclaimed {}", common::human_bytes(old_size - new_size));
        text += fmt::format("{} in {:.0f} ms ({})\n", change,
                            report.durations.count("total") ? report.durations.at("total") : 0.0,
                            fmt::join(report.steps, ", "));
    }
    if (report.backup) text += fmt::format("backup       {}\n", *report.backup);
    if (report.check) {
        const auto& check = *report.check;
        text += fmt::format(
            "{}: {}\n", check.kind == CheckKind::full ? "integrity_check" : "quick_check",
            check.ok() ? "ok" : fmt::format("{} problem(s)", check.problems.size()));
        for (const auto& problem : check.problems)
            text += fmt::format("  {}\n", problem);
    }
    if (report.lost_runs_marked > 0)
        text += fmt::format("marked {} agent run(s) lost\n", report.lost_runs_marked);
    return text;
}

}  // namespace db_vacuum
