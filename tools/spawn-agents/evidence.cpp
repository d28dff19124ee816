#include "evidence.hpp"

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "common/lock.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <sys/stat.h>
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
                                     const std::string& extension, std::string_view content)
{
    const auto dir = m_root / relative_folder;
    for (int attempt = 1;; ++attempt) {
        const auto name =
            attempt == 1 ? stem + extension : fmt::format("{}_{}{}", stem, attempt, extension);
        std::error_code ec;
        if (fs::exists(dir / name, ec) || fs::is_symlink(dir / name, ec)) continue;
        try {
            common::write_file_atomically(dir / name, content, 0600, common::Existing::refuse);
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

AgentEvidence EvidenceStore::write_agent_output(std::string_view agent, std::string_view out,
                                                std::string_view err)
{
    folder(fs::path("consensus") / m_spec_id);
    const auto held = lock();
    auto evidence = write_locked({agent, out, err});
    if (evidence.error) std::rethrow_exception(evidence.error);
    return evidence;
}

std::vector<AgentEvidence> EvidenceStore::write_agent_outputs(std::span<const AgentOutput> outputs)
{
    // Files written at once: enough for the disk to flush them together, few enough threads.
    constexpr std::size_t in_flight = 16;
    folder(fs::path("consensus") / m_spec_id);
    const auto held = lock();
    std::vector<AgentEvidence> evidence(outputs.size());
    for (std::size_t first = 0; first < outputs.size(); first += in_flight) {
        const auto last = std::min(outputs.size(), first + in_flight);
        std::vector<std::future<AgentEvidence>> writes;
        for (auto i = first + 1; i < last; ++i)
            writes.push_back(std::async(std::launch::async,
                                        [this, &outputs, i] { return write_locked(outputs[i]); }));
        evidence[first] = write_locked(outputs[first]);
        for (auto i = first + 1; i < last; ++i)
            evidence[i] = writes[i - first - 1].get();
    }
    return evidence;
}

AgentEvidence EvidenceStore::write_locked(const AgentOutput& output)
{
    const fs::path relative = fs::path("consensus") / m_spec_id;
    const auto& [agent, out, err] = output;
    const auto stem = fmt::format("{}_{}_{}_{}", m_spec_id, m_stage, agent, m_timestamp);
    AgentEvidence evidence;
    try {
        const bool is_json = nlohmann::json::accept(out);
        evidence.output = write_new(relative, stem, is_json ? ".json" : ".txt", out);
        // Beside the output, under the name it got.
        if (!err.empty())
            evidence.errors = write_new(
                relative, fs::path(evidence.output).stem().string() + "_stderr", ".txt", err);
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
                     ".json", json_text);
}

}  // namespace spawn_agents
