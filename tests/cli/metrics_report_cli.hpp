#pragma once
// What the metrics-report CLI suites share: a sandbox per test that runs the real binary with
// an environment of its own, and reading its JSON report.

#include "support/process.hpp"
#include "support/spawn_records.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace metrics_report_cli {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::AgentRun;
using test_support::BatchRun;
using test_support::ProcessResult;

// A temporary folder per test and metrics-report run with an environment of its own, so that
// a developer's configuration, database or evidence never take part.
struct Sandbox {
    test_support::TempDir dir;
    fs::path db = dir / "hygiene.db";
    fs::path evidence = dir / "evidence";

    Sandbox() { fs::create_directory(dir / "config"); }

    std::map<std::string, std::string> environment() const
    {
        return test_support::isolated_environment(dir, db.string(), evidence.string());
    }

    ProcessResult report(const std::vector<std::string>& args, const std::string& input = {}) const
    {
        std::vector<std::string> argv{METRICS_REPORT_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        return test_support::run_process(argv, input, environment());
    }

    ProcessResult spawn(const std::vector<std::string>& args, const std::string& batch) const
    {
        std::vector<std::string> argv{SPAWN_AGENTS_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        return test_support::run_process(argv, batch, environment());
    }

    // Records `runs` successful spawns of gemini with latencies 1, 2, ... ms, in batches of 10,
    // plus the stream spawn-agents would have printed for them.
    std::string record(int runs, int failures = 0) const
    {
        auto database = test_support::open_spawn_database(db);
        test_support::RunRecorder recorder(database);
        for (int first = 0; first < runs + failures; first += 10) {
            BatchRun batch;
            batch.mode = first / 10 % 2 ? "sequential" : "parallel";
            for (int i = first; i < std::min(first + 10, runs + failures); ++i)
                batch.agents.push_back(AgentRun{.agent = i % 2 ? "claude" : "gemini",
                                                .outcome = i < runs ? "success" : "exit",
                                                .spawn_latency_us = (i + 1) * 1000});
            batch.batch_wall_us = 100000 + first * 1000;
            recorder.add(batch);
        }
        return recorder.stream();
    }
};

inline json parse_report(const ProcessResult& result)
{
    BOOST_TEST_INFO("stdout: " << result.out << "\nstderr: " << result.err);
    BOOST_REQUIRE(json::accept(result.out));
    return json::parse(result.out);
}

}  // namespace metrics_report_cli
