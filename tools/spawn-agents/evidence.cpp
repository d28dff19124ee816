#include "evidence.hpp"

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/lock.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace spawn_agents {
namespace {

namespace fs = std::filesystem;
using common::Error;
using common::Exit;

// 20251114_101500, as the upstream workflow names its evidence.
std::string file_timestamp(common::TimePoint time)
{
    return fmt::format("{:%Y%m%d_%H%M%S}", fmt::gmtime(std::chrono::system_clock::to_time_t(time)));
}

void make_private_dir(const fs::path& dir)
{
    if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
        std::error_code ec;
        if (fs::is_directory(dir, ec)) return;
        throw Error(Exit::cant_create, "cannot create folder {}: a file is in the way",
                    dir.string());
    }
    throw Error(Exit::cant_create, "cannot create folder {}: {}", dir.string(),
                std::strerror(errno));
}

// Creates `dir` and its missing parents, each 0700; existing folders are left as they are.
void make_private_dirs(const fs::path& dir)
{
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return;
    if (dir.has_parent_path() && dir.parent_path() != dir) make_private_dirs(dir.parent_path());
    make_private_dir(dir);
}

// The lock file, created 0600 when missing (FileLock would create it with the umask's mode).
fs::path lock_file(const fs::path& locks, const std::string& spec_id)
{
    const auto file = locks / (spec_id + ".lock");
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) ::close(fd);
    return file;
}

}  // namespace

EvidenceStore::EvidenceStore(fs::path root, std::string spec_id, std::string stage,
                             common::TimePoint batch_time)
    : m_root(std::move(root)), m_spec_id(std::move(spec_id)), m_stage(std::move(stage)),
      m_timestamp(file_timestamp(batch_time))
{
}

fs::path EvidenceStore::folder(const fs::path& relative)
{
    const auto dir = m_root / relative;
    make_private_dirs(dir);
    return dir;
}

std::string EvidenceStore::write_new(const fs::path& relative_folder, const std::string& stem,
                                     const std::string& extension, std::string_view content,
                                     common::FolderSync folder_sync)
{
    const auto dir = m_root / relative_folder;
    for (int attempt = 1;; ++attempt) {
        const auto name =
            attempt == 1 ? stem + extension : fmt::format("{}_{}{}", stem, attempt, extension);
        std::error_code ec;
        if (fs::exists(dir / name, ec) || fs::is_symlink(dir / name, ec)) continue;
        try {
            common::AtomicFile file(dir / name, 0600, common::Existing::refuse);
            file.write(content);
            file.commit(folder_sync);
        } catch (const Error& error) {
            // Another writer took the name between the look and the link: try the next one.
            if (error.code() == Exit::cant_create && fs::exists(dir / name, ec) && attempt < 100)
                continue;
            throw;
        }
        return (relative_folder / name).string();
    }
}

common::FileLock EvidenceStore::lock()
{
    return common::FileLock::acquire(lock_file(folder(".locks"), m_spec_id));
}

std::string EvidenceStore::stem_of(std::string_view agent) const
{
    return fmt::format("{}_{}_{}_{}", m_spec_id, m_stage, agent, m_timestamp);
}

std::vector<AgentEvidence> EvidenceStore::write_agent_outputs(std::span<const AgentOutput> outputs)
{
    return commit_agent_outputs(outputs, stage_agent_outputs(outputs));
}

std::vector<StagedOutput> EvidenceStore::stage_agent_outputs(std::span<const AgentOutput> outputs)
{
    const auto dir = folder(fs::path("consensus") / m_spec_id);
    std::vector<StagedOutput> staged(outputs.size());
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        const auto& [agent, out, err] = outputs[i];
        const auto stem = stem_of(agent);
        try {
            const bool is_json = nlohmann::json::accept(out);
            staged[i].output.emplace(dir / (stem + (is_json ? ".json" : ".txt")), 0600,
                                     common::Existing::refuse);
            staged[i].output->write(out);
            staged[i].output->close_unflushed();
            if (!err.empty()) {
                staged[i].errors.emplace(dir / (stem + "_stderr.txt"), 0600,
                                         common::Existing::refuse);
                staged[i].errors->write(err);
                staged[i].errors->close_unflushed();
            }
        } catch (...) {
            staged[i] = {};
            staged[i].error = std::current_exception();
        }
    }
    return staged;
}

std::vector<AgentEvidence> EvidenceStore::commit_agent_outputs(std::span<const AgentOutput> outputs,
                                                               std::vector<StagedOutput> staged)
{
    // A thread costs more to start than a few files take to flush: a short list is flushed
    // by this one.
    constexpr std::size_t workers_at_most = 4;
    constexpr std::size_t files_per_worker = 8;
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
        for (auto i = next++; i < staged.size(); i = next++) {
            try {
                if (staged[i].output) staged[i].output->flush();
                if (staged[i].errors) staged[i].errors->flush();
            } catch (...) {
                staged[i].error = std::current_exception();
            }
        }
    };
    {
        std::vector<std::jthread> helpers;
        const auto workers =
            std::clamp<std::size_t>(staged.size() / files_per_worker, 1, workers_at_most);
        for (std::size_t n = 1; n < workers; ++n)
            helpers.emplace_back(work);
        work();
    }

    const fs::path relative = fs::path("consensus") / m_spec_id;
    folder(relative);
    const auto held = lock();
    std::vector<AgentEvidence> evidence(outputs.size());
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        auto& files = staged[i];
        if (files.error || !files.output) {
            evidence[i].error =
                files.error ? files.error
                            : std::make_exception_ptr(
                                  Error(Exit::software, "{}: nothing staged", outputs[i].agent));
            continue;
        }
        const auto place = [&](common::AtomicFile& file) {
            std::error_code ec;
            if (fs::exists(file.target(), ec) || fs::is_symlink(file.target(), ec)) return false;
            try {
                file.commit(common::FolderSync::caller);
                return true;
            } catch (const Error& error) {
                // Another writer took the name between the look and the link.
                if (error.code() == Exit::cant_create && fs::exists(file.target(), ec))
                    return false;
                throw;
            }
        };
        try {
            // A name already taken (another batch in the same second): written again under
            // the next free one; the staged temporaries go with `files`.
            if (!place(*files.output)) {
                evidence[i] = write_locked(outputs[i]);
                continue;
            }
            evidence[i].output = (relative / files.output->target().filename()).string();
            if (files.errors) {
                if (place(*files.errors))
                    evidence[i].errors = (relative / files.errors->target().filename()).string();
                else
                    evidence[i].errors =
                        write_new(relative, stem_of(outputs[i].agent) + "_stderr", ".txt",
                                  outputs[i].err, common::FolderSync::caller);
            }
        } catch (...) {
            evidence[i].error = std::current_exception();
        }
    }
    // One flush of the folder makes every new name durable, before any row names one.
    try {
        common::sync_path(m_root / relative);
    } catch (...) {
        for (auto& agent : evidence)
            if (!agent.error) agent.error = std::current_exception();
    }
    return evidence;
}

AgentEvidence EvidenceStore::write_locked(const AgentOutput& output)
{
    const fs::path relative = fs::path("consensus") / m_spec_id;
    const auto& [agent, out, err] = output;
    const auto stem = stem_of(agent);
    constexpr auto later = common::FolderSync::caller;
    AgentEvidence evidence;
    try {
        const bool is_json = nlohmann::json::accept(out);
        evidence.output = write_new(relative, stem, is_json ? ".json" : ".txt", out, later);
        // Beside the output, under the name it got.
        if (!err.empty())
            evidence.errors =
                write_new(relative, fs::path(evidence.output).stem().string() + "_stderr", ".txt",
                          err, later);
    } catch (...) {
        evidence.error = std::current_exception();
    }
    return evidence;
}

std::string EvidenceStore::write_telemetry(std::string_view json_text)
{
    const fs::path relative = fs::path("commands") / m_spec_id;
    folder(relative);
    const auto held = lock();
    return write_new(relative, fmt::format("{}_{}_telemetry_{}", m_spec_id, m_stage, m_timestamp),
                     ".json", json_text, common::FolderSync::now);
}

}  // namespace spawn_agents
