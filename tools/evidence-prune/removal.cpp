// Removing the originals of recorded archives: several at a time, on threads of their own,
// while the next specs are archived.

#include "pruner.hpp"

#include "common/parallel.hpp"

#include <functional>
#include <future>
#include <mutex>

namespace evidence_prune::pruning {

namespace {

// Removes the originals of `archives` that are still exactly what went into them, many side
// by side: a file system such as ext4 removes files faster so, even in one folder and on two
// processors, since one removal's wait for the disk overlaps the others'. On the development
// machine's disk (ext4 without a journal, mounted with discard: each removal waits for the
// discard of the file's blocks) 100,000 removals took 14.5 s one at a time, 4.7 s eight at a
// time and 3.8 s thirty-two at a time (rm through xargs -P). `hook`
// sees "file-removed" after each, one call at a time. Returns the outcomes per archive, in the
// order of its members.
std::vector<std::vector<Removal>>
remove_originals(const common::TreeRoot& root,
                 const std::vector<const std::vector<Member>*>& archives,
                 const std::function<void(std::string_view)>& hook)
{
    std::vector<std::vector<Removal>> outcomes;
    std::vector<std::pair<std::size_t, std::size_t>> work_list;  // archive, member
    for (std::size_t a = 0; a < archives.size(); ++a) {
        const auto count = archives[a]->size();
        outcomes.emplace_back(count);
        for (std::size_t m = 0; m < count; ++m)
            work_list.emplace_back(a, m);
    }
    std::mutex hook_turn;
    common::side_by_side(work_list.size(), 32, 32, [&](const common::TakeItem& take) {
        common::FolderCache folders(root);
        while (const auto i = take()) {
            const auto [a, m] = work_list[*i];
            const auto& file = (*archives[a])[m].file;
            auto& outcome = outcomes[a][m];
            try {
                const auto info = folders.stat(file.path);
                if (!info || !same_file(*info, file)) {
                    outcome.outcome = Removal::Outcome::changed;
                    continue;
                }
                folders.remove_file(file.path);
                outcome.outcome = Removal::Outcome::removed;
            } catch (const Error& error) {
                outcome.error = error.what();
                continue;
            }
            if (hook) {
                const std::lock_guard turn(hook_turn);
                hook("file-removed");
            }
        }
    });
    return outcomes;
}

}  // namespace

void Pruner::start_removals(std::vector<Pending> batch)
{
    m_completing = true;
    // The thread reads the batch where it stays until merge_removals() has waited for it.
    auto& removing = m_removing.emplace(Removing{std::move(batch), {}});
    removing.outcomes =
        std::async(std::launch::async,
                   [&root = m_root, &hook = m_options.crash_hook, &batch = removing.batch] {
                       std::vector<const std::vector<Member>*> archives;
                       for (const auto& pending : batch)
                           archives.push_back(&pending.written.members);
                       return remove_originals(root, archives, hook);
                   });
}

void Pruner::merge_removals()
{
    if (!m_removing) return;
    // remove_originals keeps each file's failure in its outcome; only the thread itself can
    // fail here (std::system_error when it cannot start, std::bad_alloc).
    const auto outcomes = m_removing->outcomes.get();
    const auto batch = std::move(m_removing->batch);
    m_removing.reset();
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& pending = batch[i];
        count_removals(pending.action.spec, pending.written, outcomes[i]);
        if (m_options.mode == Mode::run)
            for (const auto folder : spec_folders)
                m_root.remove_directory_if_empty(fmt::format("{}/{}", folder, pending.action.spec));
    }
}

void Pruner::count_removals(const std::string& spec, const WrittenArchive& written,
                            const std::vector<Removal>& outcomes)
{
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        const auto& file = written.members[i].file;
        switch (outcomes[i].outcome) {
        case Removal::Outcome::removed:
            ++m_files_archived;
            m_bytes_reclaimed += signed_bytes(file.size);
            m_spec_bytes[spec] -= signed_bytes(file.size);
            break;
        case Removal::Outcome::changed:
            skip(spec, file.path,
                 "changed after it was archived; the archive holds the older content");
            break;
        case Removal::Outcome::failed:
            ++m_failures;
            warn(outcomes[i].error);
            break;
        }
    }
}

}  // namespace evidence_prune::pruning
