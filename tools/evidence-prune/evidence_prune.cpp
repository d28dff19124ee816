#include "pruner.hpp"

namespace evidence_prune {
namespace pruning {

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
        if (m_signals) m_db->stop_waiting_when(m_signals->raised());
        common::schema::migrate(*m_db);
        return;
    }
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return;
    m_db.emplace(
        Database::open(path, {.mode = common::OpenMode::read_only, .busy_timeout_ms = timeout}));
    common::schema::ensure_supported(*m_db);
}

bool Pruner::stopping()
{
    if (!m_stopped_by && m_signals) m_stopped_by = m_signals->signal();
    return m_stopped_by.has_value();
}

void Pruner::walk(std::vector<PlannedAction> plan)
{
    scan_top_level();
    if (m_options.mode == Mode::apply) {
        // Sizes as found, so that the summary's sizes are those left after the plan.
        for (const auto& spec : m_specs)
            process_spec(spec, true);
        apply_plan(std::move(plan));
        finish_pending();
        return;
    }
    if (has_archive_table() && m_options.mode != Mode::check) recover_orphans();
    for (const auto& spec : m_specs) {
        if (stopping()) break;
        process_spec(spec);
    }
    finish_pending();
    if (m_options.mode != Mode::check && !stopping())
        delete_rows(to_ns(m_now) - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       m_options.policy.purge_after)
                                       .count());
}

int Pruner::execute()
{
    // Before any thread starts, so that every thread holds the signals back.
    if (changes()) m_signals.emplace();
    const common::Stopwatch watch;
    const auto started = std::chrono::system_clock::now();
    lock_root();
    if (changes()) preflight_writable();
    // A refused plan leaves even the database as it was.
    auto plan = m_options.mode == Mode::apply ? read_plan() : std::vector<PlannedAction>{};
    if (m_options.mode == Mode::restore)
        check_restore_archive(m_root, m_options.restore_archive, m_options.force_unverified);
    open_database();
    load_database_state();

    if (m_options.mode == Mode::restore) return restore(watch, started);

    if (m_options.mode == Mode::plan) {
        if (m_options.plan_file == "-")
            m_plan_on_stdout = true;
        else
            m_plan.emplace(m_options.plan_file, 0600);
        write_plan(plan_header(plan_root(), m_now, m_options.policy));
    }

    walk(std::move(plan));
    if (m_options.progress) m_err << "\r\033[K" << std::flush;
    // The gate measures as the health report does: one measure of a spec's evidence.
    if (m_options.mode == Mode::check)
        for (const auto& [spec, bytes] : common::measure_evidence(m_root))
            m_spec_bytes[spec] = signed_bytes(bytes);
    compute_limits();

    if (m_plan) m_plan->commit();

    auto line = summary(watch.elapsed_ms());
    if (stopping()) line["interrupted"] = *m_stopped_by == SIGINT ? "SIGINT" : "SIGTERM";
    emit(line);
    const bool failed = m_failures > 0 || m_skipped > 0;
    // Every run that may change the tree is recorded, also one that found nothing to do: the
    // daily job's last success is read from maintenance_runs, and a quiet day is a success.
    if (changes()) record_run(started, line, m_failures > 0 || m_stopped_by.has_value());
    // The shell's convention: a caller tells an interrupted run from a failed one.
    if (m_stopped_by) return 128 + *m_stopped_by;
    if (m_options.mode == Mode::check && m_limit_passed) return common::to_int(Exit::limit);
    return failed ? common::to_int(Exit::failed) : 0;
}

}  // namespace pruning

int run(const Options& options, const common::Clock& clock, std::ostream& out, std::ostream& err)
{
    std::error_code ec;
    if (!options.evidence_required && !std::filesystem::exists(options.shared.evidence, ec) &&
        options.mode != Mode::restore && options.mode != Mode::apply) {
        // No evidence written yet: nothing to prune.
        common::write_json_line(out,
                                common::Json{{"tool", "evidence-prune"},
                                             {"schema_version", 1},
                                             {"mode", mode_name(options.mode)},
                                             {"root", options.shared.evidence.string()},
                                             {"dry_run", options.mode != Mode::run},
                                             {"total_bytes", 0},
                                             {"note", "the evidence root does not exist yet"}});
        return 0;
    }
    pruning::Pruner pruner(options, clock, out, err);
    return pruner.execute();
}

}  // namespace evidence_prune
