#include "evidence.hpp"

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "common/lock.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
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
    const auto dir = folder(relative_folder);
    const auto lock = common::FileLock::acquire(lock_file(folder(".locks"), m_spec_id));
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

AgentEvidence EvidenceStore::write_agent_output(std::string_view agent, std::string_view out,
                                                std::string_view err)
{
    const fs::path relative = fs::path("consensus") / m_spec_id;
    const auto stem = fmt::format("{}_{}_{}_{}", m_spec_id, m_stage, agent, m_timestamp);
    AgentEvidence evidence;
    const bool is_json = nlohmann::json::accept(out);
    evidence.output = write_new(relative, stem, is_json ? ".json" : ".txt", out);
    // Beside the output, under the name it got.
    if (!err.empty())
        evidence.errors =
            write_new(relative, fs::path(evidence.output).stem().string() + "_stderr", ".txt", err);
    return evidence;
}

std::string EvidenceStore::write_telemetry(std::string_view json_text)
{
    const fs::path relative = fs::path("commands") / m_spec_id;
    return write_new(relative, fmt::format("{}_{}_telemetry_{}", m_spec_id, m_stage, m_timestamp),
                     ".json", json_text);
}

}  // namespace spawn_agents
