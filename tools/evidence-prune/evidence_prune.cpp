#include "pruner.hpp"

#include "common/runner.hpp"

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
        // The signals also end the waits of the open itself (its switch to WAL).
        m_db.emplace(common::schema::open_for_writing(
            path, {.mode = common::OpenMode::create,
                   .busy_timeout_ms = timeout,
                   .stop = m_signals ? &m_signals->flag() : nullptr}));
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
    if (m_options.mode == Mode::apply) {
        scan_top_level();
        // Sizes as found, so that the summary's sizes are those left after the plan.
        for (const auto& spec : m_specs)
            process_spec(spec, true);
        apply_plan(std::move(plan));
        finish_pending();
        merge_removals();
        release_held_lines();
        return;
    }
    if (m_options.mode != Mode::check) explain_policy();
    scan_top_level();
    if (has_archive_table() && m_options.mode != Mode::check) recover_orphans();
    for (const auto& spec : m_specs) {
        if (stopping()) break;
        process_spec(spec);
    }
    finish_pending();
    merge_removals();
    release_held_lines();
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

namespace {

// One root, as named by options.shared.evidence, reported in JSON Lines.
int run_json(const Options& options, const common::Clock& clock, std::ostream& out,
             std::ostream& err)
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

bool prints_text(const Options& options)
{
    // A plan on stdout is for --apply, whatever the terminal.
    return options.shared.format == "text" &&
           !(options.mode == Mode::plan && options.plan_file == "-");
}

// One root: on a terminal (or with --format text), its summary for people; the actions are
// what --explain says on stderr, so that nothing is said twice.
int run_root(const Options& options, const common::Clock& clock, std::ostream& out,
             std::ostream& err)
{
    if (!prints_text(options)) return run_json(options, clock, out, err);
    std::stringstream lines;
    const int code = run_json(options, clock, lines, err);
    std::string line;
    std::string last;
    while (std::getline(lines, line))
        last = line;
    if (!options.shared.quiet && !last.empty())
        out << pruning::summary_text(common::Json::parse(last));
    return code;
}

// A root that cannot be pruned at all (held, missing, read-only), said on both streams.
void report_failed_root(const Options& options, const common::Error& error, std::ostream& out,
                        std::ostream& err)
{
    err << "evidence-prune: error: " << common::one_line(common::sanitize_utf8(error.what()))
        << '\n';
    if (prints_text(options)) return;
    common::write_json_line(out, common::Json{{"tool", "evidence-prune"},
                                              {"schema_version", 1},
                                              {"mode", mode_name(options.mode)},
                                              {"root", options.shared.evidence.string()},
                                              {"dry_run", options.mode != Mode::run},
                                              {"ok", false},
                                              {"exit_status", common::to_int(error.code())},
                                              {"error", common::sanitize_utf8(error.what())}});
}

}  // namespace

int run(const Options& options, const common::Clock& clock, std::ostream& out, std::ostream& err)
{
    if (options.roots.size() <= 1) return run_root(options, clock, out, err);
    // Each root on its own: one that fails is reported and the others are still pruned.
    bool failed = false;
    bool limit_passed = false;
    for (const auto& root : options.roots) {
        auto one = options;
        one.shared.evidence = root;
        one.roots = {root};
        int code = 0;
        try {
            code = run_root(one, clock, out, err);
        } catch (const common::Error& error) {
            report_failed_root(one, error, out, err);
            failed = true;
            continue;
        }
        if (code > 128) return code;  // stopped by a signal: no further root is begun
        failed = failed || code == common::to_int(common::Exit::failed);
        limit_passed = limit_passed || code == common::to_int(common::Exit::limit);
    }
    if (failed) return common::to_int(common::Exit::failed);
    return limit_passed ? common::to_int(common::Exit::limit) : 0;
}

}  // namespace evidence_prune
