#include "pruner.hpp"

namespace evidence_prune::pruning {

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
        if (stopping()) break;
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
    if (!holds_lock(spec)) {
        m_spec_lock.reset();
        auto state = scan_spec(spec, true);
        m_fresh = decide_under_lock(spec, state, true);
        if (m_fresh.exempt) {
            exempt(spec, *m_fresh.exempt);
            return;
        }
    }
    // Loose files are archived first: a plan's loose purge is never carried out.
    const std::vector<FileRecord> none;
    const auto& due = action.kind == ActionKind::archive ? m_fresh.archive : none;
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

}  // namespace evidence_prune::pruning
