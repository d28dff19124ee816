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
#include <fstream>
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
                             common::TimePoint batch_time, std::chrono::milliseconds lock_timeout,
                             const std::atomic<bool>* stop)
    : m_root(std::move(root)), m_spec_id(std::move(spec_id)), m_stage(std::move(stage)),
      m_timestamp(file_timestamp(batch_time)), m_lock_timeout(lock_timeout), m_stop(stop)
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
    using namespace std::chrono_literals;
    const auto file = lock_file(folder(".locks"), m_spec_id);
    const auto deadline = std::chrono::steady_clock::now() + m_lock_timeout;
    for (;;) {
        if (auto held = common::FileLock::try_acquire(file)) return std::move(*held);
        if (m_stop && m_stop->load())
            throw Error(Exit::temp_fail, "{}: held by another process; stopped waiting for it",
                        file.string());
        if (std::chrono::steady_clock::now() >= deadline)
            throw Error(Exit::temp_fail, "{}: held by another process for more than {} ms",
                        file.string(), m_lock_timeout.count());
        std::this_thread::sleep_for(20ms);
    }
}

std::string EvidenceStore::stem_of(std::string_view agent) const
{
    return fmt::format("{}_{}_{}_{}", m_spec_id, m_stage, agent, m_timestamp);
}

void EvidenceStore::prepare()
{
    for (const auto& relative : {fs::path("consensus") / m_spec_id,
                                 fs::path("commands") / m_spec_id, fs::path(".locks")}) {
        const auto dir = folder(relative);
        // A link would send the evidence elsewhere: refused rather than followed.
        for (auto part = relative; !part.empty(); part = part.parent_path()) {
            std::error_code ec;
            if (fs::is_symlink(m_root / part, ec))
                throw Error(Exit::cant_create, "{}: a symbolic link; not writing through it",
                            (m_root / part).string());
        }
        if (::access(dir.c_str(), W_OK | X_OK) != 0)
            throw Error(Exit::cant_create, "cannot write in {}: {}", dir.string(),
                        std::strerror(errno));
    }
}

StagedOutput EvidenceStore::stage_agent(std::string_view agent)
{
    const auto dir = folder(fs::path("consensus") / m_spec_id);
    const auto stem = stem_of(agent);
    StagedOutput staged;
    staged.output.emplace(dir / (stem + ".txt"), 0600, common::Existing::refuse);
    staged.errors.emplace(dir / (stem + "_stderr.txt"), 0600, common::Existing::refuse);
    return staged;
}

namespace {

std::uint64_t size_of(const fs::path& file)
{
    struct stat info {};
    if (::lstat(file.c_str(), &info) != 0)
        throw Error(Exit::io, "cannot read {}: {}", file.string(), std::strerror(errno));
    return static_cast<std::uint64_t>(info.st_size);
}

}  // namespace

OutputFacts EvidenceStore::inspect(StagedOutput& staged, std::size_t cap)
{
    OutputFacts facts;
    if (!staged.output) return facts;
    staged.output->close_unflushed();
    if (staged.errors) staged.errors->close_unflushed();
    const auto& out = staged.output->temporary_path();
    facts.stdout_bytes = size_of(out);
    if (staged.errors) facts.stderr_bytes = size_of(staged.errors->temporary_path());
    if (facts.stderr_bytes == 0) staged.errors.reset();

    std::ifstream in(out, std::ios::binary);
    facts.head.resize(
        static_cast<std::size_t>(std::min<std::uint64_t>(facts.stdout_bytes, cap + 1)));
    in.read(facts.head.data(), static_cast<std::streamsize>(facts.head.size()));
    facts.head.resize(static_cast<std::size_t>(in.gcount()));
    // Read as a stream: no document is held whole.
    in.clear();
    in.seekg(0);
    if (facts.stdout_bytes > 0 && nlohmann::json::accept(in)) {
        auto target = staged.output->target();
        staged.output->retarget(target.replace_extension(".json"));
    }
    return facts;
}

std::string EvidenceStore::place(common::AtomicFile& file, const std::string& stem,
                                 const std::string& extension)
{
    const auto dir = file.target().parent_path();
    for (int attempt = 1;; ++attempt) {
        const auto name =
            attempt == 1 ? stem + extension : fmt::format("{}_{}{}", stem, attempt, extension);
        std::error_code ec;
        if (fs::exists(dir / name, ec) || fs::is_symlink(dir / name, ec)) continue;
        file.retarget(dir / name);
        try {
            file.commit(common::FolderSync::caller);
            return name;
        } catch (const Error& error) {
            // Another writer took the name between the look and the link: the next one.
            if (error.code() == Exit::cant_create && fs::exists(dir / name, ec) && attempt < 100)
                continue;
            throw;
        }
    }
}

std::vector<AgentEvidence> EvidenceStore::commit_agent_outputs(std::span<const std::string> agents,
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
    std::vector<AgentEvidence> evidence(agents.size());
    for (std::size_t i = 0; i < agents.size(); ++i) {
        auto& files = staged[i];
        if (files.error || !files.output) {
            evidence[i].error = files.error ? files.error
                                            : std::make_exception_ptr(Error(
                                                  Exit::software, "{}: nothing staged", agents[i]));
            continue;
        }
        try {
            const auto extension = files.output->target().extension().string();
            const auto name = place(*files.output, stem_of(agents[i]), extension);
            evidence[i].output = (relative / name).string();
            // Beside the output, under the name it got.
            if (files.errors)
                evidence[i].errors =
                    (relative /
                     place(*files.errors, fs::path(name).stem().string() + "_stderr", ".txt"))
                        .string();
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

std::string EvidenceStore::write_telemetry(std::string_view json_text)
{
    const fs::path relative = fs::path("commands") / m_spec_id;
    folder(relative);
    const auto held = lock();
    return write_new(relative, fmt::format("{}_{}_telemetry_{}", m_spec_id, m_stage, m_timestamp),
                     ".json", json_text, common::FolderSync::now);
}

}  // namespace spawn_agents
