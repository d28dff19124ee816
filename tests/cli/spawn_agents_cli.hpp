#pragma once
// What the spawn-agents CLI suites share: a sandbox per test that runs the real binary with a
// database, an evidence root and an environment of its own, batches of shell agents, and
// helpers that read the events, rows and files back.

#include "common/process.hpp"
#include "common/sqlite.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace spawn_agents_cli {

namespace fs = std::filesystem;
using common::Database;
using common::OpenMode;
using nlohmann::json;
using test_support::file_bytes;
using test_support::ProcessResult;
using namespace std::chrono_literals;

using Rows = std::vector<std::vector<common::Value>>;

// An agent entry of a batch: a shell command line, run with sh -c.
inline json shell_agent(const std::string& name, const std::string& script)
{
    return {{"name", name}, {"command", {"sh", "-c", script}}};
}

inline json make_batch(const std::vector<json>& agents, const std::string& spec = "SPEC-KIT-933")
{
    return {{"spec_id", spec}, {"stage", "validate"}, {"agents", agents}};
}

// A temporary folder per test with its own database, evidence root and environment, so that
// a developer's configuration and state never take part.
struct Sandbox {
    test_support::TempDir dir;
    fs::path db = dir / "hygiene.db";
    fs::path evidence = dir / "evidence";

    Sandbox() { fs::create_directory(dir / "config"); }

    std::map<std::string, std::string> environment() const
    {
        return test_support::isolated_environment(dir);
    }

    std::vector<std::string> argv(const std::vector<std::string>& args) const
    {
        std::vector<std::string> argv{SPAWN_AGENTS_BIN, "--db", db.string(), "--evidence",
                                      evidence.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    ProcessResult spawn(const std::string& input, const std::vector<std::string>& args = {}) const
    {
        return test_support::run_process(argv(args), input, environment());
    }

    ProcessResult spawn(const json& batch, const std::vector<std::string>& args = {}) const
    {
        return spawn(batch.dump(), args);
    }

    // Starts spawn-agents in `children` without waiting for it.
    pid_t start(common::ProcessSet& children, const json& batch,
                const std::vector<std::string>& args = {}) const
    {
        const auto started = children.start({.argv = argv(args),
                                             .environment = common::environment_with(environment()),
                                             .input = batch.dump()});
        BOOST_TEST_REQUIRE(started.ok(), started.message);
        return started.pid;
    }

    Rows rows(const std::string& sql) const
    {
        const auto database = Database::open(db, {.mode = OpenMode::read_only});
        return database.query_rows(sql);
    }

    std::int64_t count(const std::string& sql) const
    {
        const auto result = rows(sql);
        return std::get<std::int64_t>(result.at(0).at(0));
    }

    // Every file under the evidence root, relative to it.
    std::vector<fs::path> evidence_files() const
    {
        std::vector<fs::path> files;
        if (!fs::exists(evidence)) return files;
        for (const auto& entry : fs::recursive_directory_iterator(evidence))
            if (entry.is_regular_file()) files.push_back(fs::relative(entry.path(), evidence));
        return files;
    }
};

inline std::vector<json> events_of(const ProcessResult& result)
{
    std::vector<json> events;
    std::istringstream lines(result.out);
    for (std::string line; std::getline(lines, line);) {
        BOOST_TEST_REQUIRE(json::accept(line), "not JSON: " << line);
        events.push_back(json::parse(line));
    }
    return events;
}

inline std::vector<json> events_named(const std::vector<json>& events, const std::string& name)
{
    std::vector<json> found;
    for (const auto& event : events)
        if (event.at("event") == name) found.push_back(event);
    return found;
}

inline std::string text(const common::Value& value)
{
    return std::holds_alternative<std::string>(value) ? std::get<std::string>(value) : "<null>";
}

// Processes started without waiting for them, whose input and output keep being pumped while
// a test waits for something.
struct Background {
    common::ProcessSet children;
    std::map<pid_t, common::FinishedChild> finished;

    void pump(std::chrono::milliseconds for_at_most)
    {
        for (auto& child : children.wait(for_at_most).finished)
            finished[child.pid] = std::move(child);
    }

    // Runs every child to its end; returns the exit codes by pid.
    std::map<pid_t, int> finish_all()
    {
        while (children.running() > 0)
            pump(100ms);
        std::map<pid_t, int> codes;
        for (const auto& [pid, child] : finished)
            codes[pid] = child.exit_code.value_or(128 + child.signal.value_or(0));
        return codes;
    }
};

// Waits (up to ~20 s) until `ready` holds, pumping `background` meanwhile; returns whether it
// did.
template <typename Ready> bool eventually(Ready ready, Background* background = nullptr)
{
    for (int i = 0; i < 2000; ++i) {
        if (ready()) return true;
        if (background)
            background->pump(10ms);
        else
            std::this_thread::sleep_for(10ms);
    }
    return false;
}

}  // namespace spawn_agents_cli
