#pragma once
// The evidence files of one batch: each agent's output under consensus/<SPEC>/, the batch's
// telemetry under commands/<SPEC>/, each written atomically while holding .locks/<SPEC>.lock.
// Folders it creates are 0700 and files 0600. Below the root, everything is reached through
// descriptors of its folders (common::TreeRoot): no symbolic link is followed.

#include "common/clock.hpp"
#include "common/lock.hpp"
#include "common/tree.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spawn_agents {

// Where an agent's output went, relative to the evidence root.
struct AgentEvidence {
    std::string output;        // stdout: .json when it is JSON, else .txt
    std::string errors;        // stderr, when it wrote any: ..._stderr.txt; else empty
    std::exception_ptr error;  // set when its files could not be written
    // Set when its stderr file holds only the start of it (a full disk): the files are in
    // place all the same.
    std::exception_ptr cut_short;
};

// An agent's files under temporary names in consensus/<SPEC>/: its stdout, which the agent
// writes straight into, and its stderr, made beside it when the first bytes of it arrive
// (most agents write none): no output is ever held whole in this process.
struct StagedOutput {
    std::optional<common::NewFileAt> output;  // named as its first choice
    std::optional<common::NewFileAt> errors;
    std::exception_ptr error;  // set when they could not be read or written
    // Set when stderr could not be written whole: what was written is kept, the rest dropped,
    // and stdout is kept as it is.
    std::exception_ptr errors_cut_short;
    std::uint64_t bytes = 0;  // what they hold, once inspected

    // Appends to the stderr file, made on the first call; a failure is kept in
    // `errors_cut_short`.
    void append_errors(std::string_view chunk) noexcept;
    // Closes the stderr file once its agent has ended: an agent waiting for the writer holds
    // no descriptor. A failure is kept in `errors_cut_short`.
    void end_errors() noexcept;
};

// What an agent's staged files hold, read back a bounded piece at a time.
struct OutputFacts {
    std::string head;  // the first `cap` + 1 bytes of stdout, for response_text
    std::uint64_t stdout_bytes = 0;
    std::uint64_t stderr_bytes = 0;
};

class EvidenceStore {
public:
    // Nothing is created until prepare() or the first write. The spec's lock is waited for
    // at most `lock_timeout`, and no longer once `stop` (when given) is set.
    EvidenceStore(std::filesystem::path root, std::string spec_id, std::string stage,
                  common::TimePoint batch_time,
                  std::chrono::milliseconds lock_timeout = std::chrono::seconds(5),
                  const std::atomic<bool>* stop = nullptr);

    // Makes the root (with its parents) and the folders every batch writes to (0700), before
    // any agent starts. Throws Error 73 when one cannot be made or written in, is not a folder
    // or is a symbolic link (the root included).
    void prepare();

    // Creates `agent`'s stdout temporary, 0600, for it to write into. Throws Error 73.
    StagedOutput stage_agent(std::string_view agent);

    // Closes `staged` (once its agent has ended), drops an empty stderr file, names stdout
    // .json when it holds one JSON document and returns what it holds, keeping `cap` + 1
    // bytes. Throws Error 74 when it cannot be read.
    static OutputFacts inspect(StagedOutput& staged, std::size_t cap);

    // Flushes staged files a few at a time, so that the disk commits their flushes together,
    // puts them in place under one hold of the lock (stem_2, stem_3, ... when a name is
    // taken) and flushes the folder once. `agents` name the staged files, in the same order.
    // An agent whose files could not be written has its error set (73 when a file cannot be
    // created, 74 on an I/O error); the others are written all the same. Throws Error 73 when
    // the folders or the lock cannot be made.
    std::vector<AgentEvidence> commit_agent_outputs(std::span<const std::string> agents,
                                                    std::vector<StagedOutput> staged);

    // Writes the batch's telemetry document; returns its path relative to the root.
    std::string write_telemetry(std::string_view json_text);

    const std::filesystem::path& root() const { return m_root; }

private:
    // The root, opened (and made, 0700) on first use. Throws Error 73.
    const common::TreeRoot& tree();
    // Opens `relative` below the root, creating what is missing (0700). Throws Error 73,
    // naming a symbolic link when one is in the way.
    std::shared_ptr<const common::UniqueFd> folder(const std::string& relative);
    // Holds the spec's lock. Throws Error 75 when another process holds it past the lock
    // timeout, or when told to stop meanwhile; 73 when the lock file cannot be made.
    common::FileLock lock();
    // Flushes the staged files: one syncfs of their file system when they are several and
    // little else waits to be written, otherwise (or when the syncfs fails) each file's own
    // flush, a few side by side. A failure is kept in the agent's error.
    void flush_all(std::vector<StagedOutput>& staged);
    // Puts `file` in place under stem + extension or, when that is taken (another batch in
    // the same second), the next free one: stem_2, stem_3, ... Returns the name it got.
    static std::string place(common::NewFileAt& file, const std::string& stem,
                             const std::string& extension);
    // The name an agent's stdout gets first: <SPEC>_<stage>_<agent>_<timestamp>.
    std::string stem_of(std::string_view agent) const;

    std::filesystem::path m_root;
    std::optional<common::TreeRoot> m_tree;
    std::shared_ptr<const common::UniqueFd> m_consensus;  // where agents are staged
    std::string m_spec_id;
    std::string m_stage;
    std::string m_timestamp;
    std::chrono::milliseconds m_lock_timeout;
    const std::atomic<bool>* m_stop;
};

}  // namespace spawn_agents
