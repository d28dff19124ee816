#include "pruner.hpp"

#include "common/output.hpp"

namespace evidence_prune::pruning {

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

void Pruner::explain(const std::string& text)
{
    if (!m_options.explain) return;
    if (m_options.progress) m_err << "\r\033[K";
    m_err << common::printable(text) << '\n';
}

void Pruner::explain_policy()
{
    const auto& policy = m_options.policy;
    explain(fmt::format("policy: archive files older than {}; files past the purge age ({}) are "
                        "archived first, and an archive is purged no sooner than {} after it "
                        "was made, so that a run can be undone meanwhile (--restore)",
                        age_text(policy.archive_after), age_text(policy.purge_after),
                        age_text(policy.purge_grace)));
}

void Pruner::warn(const std::string& text)
{
    if (m_options.shared.quiet) return;
    if (m_options.progress) m_err << "\r\033[K";
    m_err << "evidence-prune: warning: " << common::printable(text) << '\n';
}

void Pruner::progress(const std::string& spec, bool force)
{
    if (!m_options.progress) return;
    const auto now = m_progress_clock.elapsed_us();
    if (!force && m_progress_last_us >= 0 && now - m_progress_last_us < 100'000) return;
    m_progress_last_us = now;
    m_err << fmt::format("\r\033[Kevidence-prune: {} ({}/{} specs, {} files)",
                         common::printable(spec), m_specs_done, m_specs.size(), m_files_seen)
          << std::flush;
}

void Pruner::report_entry(const std::string& path, const std::string& reason)
{
    Json line{{"action", "report"}};
    put_path(line, path);
    line["reason"] = reason;
    emit(line);
    explain(fmt::format("{}: left alone: {}", path, reason));
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

void Pruner::exempt(const std::string& spec, const std::string& reason)
{
    m_exempted.push_back(spec);
    emit(Json{{"action", "exempt"}, {"spec", spec}, {"reason", reason}});
    explain(fmt::format("{}: leave alone: {}", spec, reason));
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
    case ActionKind::purge_archive:
        return fmt::format("{}: purge {} ({}): {}", action.spec, action.archive,
                           common::human_bytes(bytes), action.reason);
    case ActionKind::delete_rows: return "";
    }
    return "";
}

namespace {

std::string plural(std::int64_t count, std::string_view noun)
{
    return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

std::int64_t count_of(const Json& summary, const char* key)
{
    return summary.value(key, std::int64_t{0});
}

}  // namespace

std::string summary_text(const Json& summary)
{
    common::Table table;
    const auto root = common::sanitize_utf8(summary.value("root", ""));
    const bool dry = summary.value("dry_run", false);
    table.add_row({"evidence-prune", fmt::format("{} ({})", root, summary.value("mode", ""))});
    if (summary.contains("error")) {
        table.add_row({"not pruned", common::sanitize_utf8(summary["error"].get<std::string>())});
        return common::render_text(table);
    }
    if (summary.contains("files_restored"))
        table.add_row({"restored", plural(count_of(summary, "files_restored"), "file")});
    if (summary.contains("files_archived")) {
        table.add_row(
            {dry ? "would archive" : "archived",
             fmt::format("{} into {}", plural(count_of(summary, "files_archived"), "file"),
                         plural(count_of(summary, "archives_made"), "archive"))});
        table.add_row(
            {dry ? "would purge" : "purged",
             fmt::format("{}, {}", plural(count_of(summary, "archives_purged"), "archive"),
                         plural(count_of(summary, "files_purged"), "loose file"))});
        table.add_row({dry ? "would reclaim" : "reclaimed",
                       common::human_bytes(static_cast<std::uint64_t>(
                           std::max<std::int64_t>(count_of(summary, "bytes_reclaimed"), 0)))});
        table.add_row({dry ? "would delete" : "deleted",
                       plural(count_of(summary, "rows_deleted"), "database row")});
    }
    if (summary.contains("specs"))
        table.add_row(
            {dry ? "evidence left" : "evidence",
             fmt::format("{} in {}",
                         common::human_bytes(static_cast<std::uint64_t>(
                             std::max<std::int64_t>(count_of(summary, "total_bytes"), 0))),
                         plural(static_cast<std::int64_t>(summary["specs"].size()), "spec"))});
    std::string exempted;
    for (const auto& spec : summary.value("exempted_specs", Json::array()))
        exempted += (exempted.empty() ? "" : ", ") + common::sanitize_utf8(spec.get<std::string>());
    if (!exempted.empty()) table.add_row({"left alone", exempted});
    for (const auto& warning : summary.value("warnings", Json::array()))
        table.add_row({"warning", common::sanitize_utf8(warning.get<std::string>())});
    if (count_of(summary, "skipped") + count_of(summary, "failures") > 0)
        table.add_row(
            {"not done", fmt::format("{} skipped, {} failed", count_of(summary, "skipped"),
                                     count_of(summary, "failures"))});
    if (summary.contains("interrupted"))
        table.add_row({"stopped by", summary["interrupted"].get<std::string>()});
    return common::render_text(table);
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

bool Pruner::record_run(common::TimePoint started, const Json& summary, bool failed)
{
    if (!m_db || !m_db->table_exists("maintenance_runs")) return true;
    try {
        common::record_maintenance_run(*m_db, {.tool = "evidence-prune",
                                               .started_at = started,
                                               .finished_at = std::chrono::system_clock::now(),
                                               .failed = failed,
                                               .summary = common::json_text(summary)});
        return true;
    } catch (const Error& error) {
        warn(fmt::format("cannot record the run in maintenance_runs: {}", error.what()));
        return false;
    }
}

}  // namespace evidence_prune::pruning
