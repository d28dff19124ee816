#include "evidence.hpp"

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/lock.hpp"
#include "common/parallel.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
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
using common::UniqueFd;

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
// The root and the folders above it are the operator's choice; below it, nothing is made by
// path.
void make_private_dirs(const fs::path& dir)
{
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return;
    if (dir.has_parent_path() && dir.parent_path() != dir) make_private_dirs(dir.parent_path());
    make_private_dir(dir);
}

// The first component of `relative` below `tree` that is a symbolic link, if any.
std::optional<std::string> link_in(const common::TreeRoot& tree, const std::string& relative)
{
    for (std::size_t end = 0; end != std::string::npos;) {
        end = relative.find('/', end + 1);
        const auto part = relative.substr(0, end);
        const auto info = tree.stat(part);
        if (info && info->type == common::EntryType::symlink) return part;
    }
    return std::nullopt;
}

// Reads up to `size` bytes from the start of `fd`.
std::string read_head(int fd, std::size_t size, const fs::path& shown)
{
    std::string head(size, '\0');
    std::size_t got = 0;
    while (got < size) {
        const auto n = ::pread(fd, head.data() + got, size - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            throw Error(Exit::io, "cannot read {}: {}", shown.string(), std::strerror(errno));
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    head.resize(got);
    return head;
}

// Whether the file open on `fd` holds one JSON document, read as a stream: no document is
// held whole.
bool holds_json(const UniqueFd& fd)
{
    UniqueFd copy(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
    if (!copy || ::lseek(copy.get(), 0, SEEK_SET) != 0) return false;
    std::FILE* file = ::fdopen(copy.get(), "rb");
    if (file == nullptr) return false;
    copy.release();
    const bool accepted = nlohmann::json::accept(file);
    std::fclose(file);
    return accepted;
}

std::uint64_t size_of(const UniqueFd& fd, const fs::path& shown)
{
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0)
        throw Error(Exit::io, "cannot read {}: {}", shown.string(), std::strerror(errno));
    return static_cast<std::uint64_t>(info.st_size);
}

void sync_folder(int folder, const fs::path& shown)
{
    if (::fsync(folder) != 0)
        throw Error(Exit::io, "cannot flush {} to disk: {}", shown.string(), std::strerror(errno));
}

}  // namespace

EvidenceStore::EvidenceStore(fs::path root, std::string spec_id, std::string stage,
                             common::TimePoint batch_time, std::chrono::milliseconds lock_timeout,
                             const std::atomic<bool>* stop)
    : m_root(std::move(root)), m_spec_id(std::move(spec_id)), m_stage(std::move(stage)),
      m_timestamp(file_timestamp(batch_time)), m_lock_timeout(lock_timeout), m_stop(stop)
{
}

const common::TreeRoot& EvidenceStore::tree()
{
    if (m_tree) return *m_tree;
    make_private_dirs(m_root);
    try {
        m_tree.emplace(common::TreeRoot::open(m_root));
    } catch (const Error& error) {
        throw Error(Exit::cant_create, "cannot write evidence in {}", error.what());
    }
    return *m_tree;
}

std::shared_ptr<const UniqueFd> EvidenceStore::folder(const std::string& relative)
{
    const auto& root = tree();
    try {
        return std::make_shared<const UniqueFd>(root.open_directory(relative, true, 0700));
    } catch (const Error& error) {
        if (const auto link = link_in(root, relative))
            throw Error(Exit::cant_create, "{}: a symbolic link; not writing through it",
                        (m_root / *link).string());
        // The tree's message names the folder; one that says it could not be made says all.
        const std::string_view reason = error.what();
        if (reason.starts_with("cannot create ")) throw Error(Exit::cant_create, "{}", reason);
        throw Error(Exit::cant_create, "cannot create folder {}", reason);
    }
}

common::FileLock EvidenceStore::lock()
{
    using namespace std::chrono_literals;
    const auto locks = folder(".locks");
    const auto name = m_spec_id + ".lock";
    const auto shown = m_root / ".locks" / name;
    // Made 0600 here: try_acquire_at would make it with the umask's mode.
    if (const int fd = ::openat(locks->get(), name.c_str(),
                                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        fd >= 0)
        ::close(fd);
    const auto deadline = std::chrono::steady_clock::now() + m_lock_timeout;
    for (;;) {
        if (auto held = common::FileLock::try_acquire_at(locks->get(), name))
            return std::move(*held);
        struct stat info {};
        if (::fstatat(locks->get(), name.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISREG(info.st_mode))
            throw Error(Exit::cant_create, "{}: not a regular file; not locking through it",
                        shown.string());
        if (m_stop && m_stop->load())
            throw Error(Exit::temp_fail, "{}: held by another process; stopped waiting for it",
                        shown.string());
        if (std::chrono::steady_clock::now() >= deadline)
            throw Error(Exit::temp_fail, "{}: held by another process for more than {} ms",
                        shown.string(), m_lock_timeout.count());
        std::this_thread::sleep_for(20ms);
    }
}

std::string EvidenceStore::stem_of(std::string_view agent) const
{
    return fmt::format("{}_{}_{}_{}", m_spec_id, m_stage, agent, m_timestamp);
}

void EvidenceStore::prepare()
{
    for (const auto& relative :
         {"consensus/" + m_spec_id, "commands/" + m_spec_id, std::string(".locks")}) {
        folder(relative);
        if (::faccessat(tree().fd(), relative.c_str(), W_OK | X_OK, 0) != 0)
            throw Error(Exit::cant_create, "cannot write in {}: {}", (m_root / relative).string(),
                        std::strerror(errno));
    }
    const auto lock_name = ".locks/" + m_spec_id + ".lock";
    if (const auto info = tree().stat(lock_name); info && info->type != common::EntryType::file)
        throw Error(Exit::cant_create, "{}: not a regular file; not locking through it",
                    (m_root / lock_name).string());
}

StagedOutput EvidenceStore::stage_agent(std::string_view agent)
{
    const auto relative = "consensus/" + m_spec_id;
    // One descriptor for the folder, shared by every agent's files: those waiting to be
    // named hold none of their own.
    if (!m_consensus) m_consensus = folder(relative);
    const auto& dir = m_consensus;
    const auto stem = stem_of(agent);
    StagedOutput staged;
    staged.output.emplace(dir, stem + ".txt", 0600, m_root / relative);
    return staged;
}

void StagedOutput::append_errors(std::string_view chunk) noexcept
{
    if (errors_cut_short || error || !output) return;
    try {
        if (!errors)
            errors.emplace(
                output->beside(fs::path(output->name()).stem().string() + "_stderr.txt", 0600));
        errors->write(chunk);
    } catch (...) {
        errors_cut_short = std::current_exception();
    }
}

void StagedOutput::end_errors() noexcept
{
    if (!errors) return;
    try {
        errors->close_unflushed();
    } catch (...) {
        if (!errors_cut_short) errors_cut_short = std::current_exception();
    }
}

OutputFacts EvidenceStore::inspect(StagedOutput& staged, std::size_t cap)
{
    OutputFacts facts;
    if (!staged.output) return facts;
    staged.output->close_unflushed();
    if (staged.errors) {
        staged.errors->close_unflushed();
        facts.stderr_bytes = size_of(staged.errors->open_for_reading(), staged.errors->shown());
    }
    if (facts.stderr_bytes == 0) staged.errors.reset();

    const auto out = staged.output->open_for_reading();
    facts.stdout_bytes = size_of(out, staged.output->shown());
    staged.bytes = facts.stdout_bytes + facts.stderr_bytes;
    facts.head = read_head(
        out.get(), static_cast<std::size_t>(std::min<std::uint64_t>(facts.stdout_bytes, cap + 1)),
        staged.output->shown());
    if (facts.stdout_bytes > 0 && holds_json(out))
        staged.output->rename_to(fs::path(staged.output->name()).replace_extension(".json"));
    return facts;
}

std::string EvidenceStore::place(common::NewFileAt& file, const std::string& stem,
                                 const std::string& extension)
{
    constexpr int attempts = 100;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
        file.rename_to(attempt == 1 ? stem + extension
                                    : fmt::format("{}_{}{}", stem, attempt, extension));
        if (file.commit()) return file.name();
    }
    throw Error(Exit::cant_create, "cannot create {}: {} names taken", file.shown().string(),
                attempts);
}

void EvidenceStore::flush_all(std::vector<StagedOutput>& staged)
{
    std::size_t files = 0;
    std::uint64_t bytes = 0;
    int folder = -1;  // where they are staged
    for (const auto& agent : staged) {
        files += (agent.output ? 1U : 0U) + (agent.errors ? 1U : 0U);
        bytes += agent.bytes;
        if (agent.output) folder = agent.output->folder();
    }
    // Several files and little else waiting to be written: one syncfs writes them and commits
    // the journal once, where their own flushes would commit it about once each. When it
    // fails (a write error anywhere on the file system since the folder was opened), each
    // file's own flush says which of them it was.
    if (files > 1 && folder >= 0 && common::syncfs_reports_errors() &&
        common::little_else_to_write(bytes) && ::syncfs(folder) == 0)
        return;
    // Otherwise each file's own flush, a few side by side: the disk commits them together.
    common::side_by_side(staged.size(), 4, 8, [&](const common::TakeItem& take) {
        while (const auto i = take()) {
            auto& agent = staged[*i];
            try {
                if (agent.output) agent.output->flush();
                if (agent.errors) agent.errors->flush();
            } catch (...) {
                agent.error = std::current_exception();
            }
        }
    });
}

std::vector<AgentEvidence> EvidenceStore::commit_agent_outputs(std::span<const std::string> agents,
                                                               std::vector<StagedOutput> staged)
{
    flush_all(staged);
    const auto relative = "consensus/" + m_spec_id;
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
        evidence[i].cut_short = files.errors_cut_short;
        try {
            const auto extension = fs::path(files.output->name()).extension().string();
            const auto name = place(*files.output, stem_of(agents[i]), extension);
            evidence[i].output = relative + "/" + name;
            // Beside the output, under the name it got.
            if (files.errors)
                evidence[i].errors =
                    relative + "/" +
                    place(*files.errors, fs::path(name).stem().string() + "_stderr", ".txt");
        } catch (...) {
            evidence[i].error = std::current_exception();
        }
    }
    // One flush of the folder makes every new name durable, before any row names one: the
    // folder the files were staged in, wherever it is now.
    std::vector<int> folders;
    for (const auto& files : staged)
        if (files.output && std::ranges::find(folders, files.output->folder()) == folders.end())
            folders.push_back(files.output->folder());
    try {
        for (const int dir : folders)
            sync_folder(dir, m_root / relative);
    } catch (...) {
        for (auto& agent : evidence)
            if (!agent.error) agent.error = std::current_exception();
    }
    return evidence;
}

std::string EvidenceStore::write_telemetry(std::string_view json_text)
{
    const auto relative = "commands/" + m_spec_id;
    const auto dir = folder(relative);
    const auto held = lock();
    const auto stem = fmt::format("{}_{}_telemetry_{}", m_spec_id, m_stage, m_timestamp);
    common::NewFileAt file(dir, stem + ".json", 0600, m_root / relative);
    file.write(json_text);
    file.flush();
    const auto name = place(file, stem, ".json");
    sync_folder(dir->get(), m_root / relative);
    return relative + "/" + name;
}

}  // namespace spawn_agents
