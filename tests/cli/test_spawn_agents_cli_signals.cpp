// spawn-agents CLI: signals, timeouts, orphans, and waits on a held database or spec lock.
#define BOOST_TEST_MODULE test_cli_spawn_agents_signals
#include <boost/test/unit_test.hpp>

#include "common/lock.hpp"
#include "common/process.hpp"
#include "common/schema.hpp"
#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "spawn_agents_cli.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

using namespace spawn_agents_cli;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(a_signal_ending_an_agent_is_recorded_as_signal)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(make_batch({shell_agent("killed", "kill -KILL $$")}));

    BOOST_TEST(result.exit_code == 1);
    const auto rows = sandbox.rows("SELECT outcome, signal, exit_code FROM agent_executions");
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(text(rows[0][0]) == "signal");
    BOOST_TEST(std::get<std::int64_t>(rows[0][1]) == SIGKILL);
    BOOST_TEST(std::holds_alternative<std::nullptr_t>(rows[0][2]));
}

BOOST_AUTO_TEST_CASE(a_timeout_kills_the_agent_and_its_grandchild)
{
    Sandbox sandbox;
    const auto pid_file = sandbox.dir / "grandchild.pid";
    auto agent =
        shell_agent("stuck", fmt::format("sleep 60 & echo $! > {}; wait", pid_file.string()));
    agent["timeout_s"] = 0.3;
    const auto result = sandbox.spawn(make_batch({agent}), {"--kill-grace", "1"});

    BOOST_TEST(result.exit_code == 1);
    const auto rows = sandbox.rows("SELECT outcome, signal FROM agent_executions");
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(text(rows[0][0]) == "timeout");
    BOOST_TEST(std::get<std::int64_t>(rows[0][1]) == SIGTERM);
    const pid_t grandchild = std::stoi(file_bytes(pid_file));
    BOOST_TEST(eventually([&] { return !test_support::alive(grandchild); }));
}

namespace {

// An agent that waits for the process whose pid `pid_file` names to end (or become a zombie)
// and then succeeds: it succeeds only if that process ends while the batch still runs.
json watcher_of(const fs::path& pid_file)
{
    auto watcher = shell_agent(
        "watcher", fmt::format("while [ ! -e {0} ]; do sleep 0.02; done; p=$(cat {0}); "
                               "while [ -e /proc/$p ] && ! grep -q '^State:.Z' /proc/$p/status "
                               "2>/dev/null; do sleep 0.02; done; echo gone",
                               pid_file.string()));
    watcher["timeout_s"] = 20;
    return watcher;
}

// The rows of a batch of an agent past its timeout (named first) and the watcher that saw the
// process it left behind end.
void expect_timeout_and_a_watcher_that_saw_the_stray_end(Sandbox& sandbox)
{
    const auto rows =
        sandbox.rows("SELECT agent_name, outcome FROM agent_executions ORDER BY agent_name");
    BOOST_TEST_REQUIRE(rows.size() == 2u);
    BOOST_TEST(text(rows[0][1]) == "timeout");
    BOOST_TEST(text(rows[1][1]) == "success");
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_agent_child_that_left_its_session_is_killed_at_the_agents_timeout)
{
    Sandbox sandbox;
    const auto pid_file = sandbox.dir / "escaped.pid";
    auto escapes = shell_agent(
        "escapes", fmt::format("setsid sleep 60 & echo $! > {0}.tmp; mv {0}.tmp {0}; wait",
                               pid_file.string()));
    escapes["timeout_s"] = 0.3;
    const auto result = sandbox.spawn(make_batch(std::vector<json>{escapes, watcher_of(pid_file)}),
                                      {"--kill-grace", "1"});

    BOOST_TEST(result.exit_code == 1, result.err);
    expect_timeout_and_a_watcher_that_saw_the_stray_end(sandbox);
}

BOOST_AUTO_TEST_CASE(an_orphan_of_a_timed_out_agent_ends_at_its_timeout_while_others_run)
{
    Sandbox sandbox;
    const auto pid_file = sandbox.dir / "orphan.pid";
    // The subshell that starts the orphan ends at once: the orphan is no longer below the
    // agent when its timeout comes.
    auto leaves =
        shell_agent("leaves", fmt::format("(setsid sleep 60 & echo $! > {0}.tmp; mv {0}.tmp {0}); "
                                          "exec sleep 60",
                                          pid_file.string()));
    leaves["timeout_s"] = 0.3;
    const auto result = sandbox.spawn(make_batch(std::vector<json>{leaves, watcher_of(pid_file)}),
                                      {"--kill-grace", "0.5"});

    BOOST_TEST(result.exit_code == 1, result.err);
    expect_timeout_and_a_watcher_that_saw_the_stray_end(sandbox);
}

BOOST_AUTO_TEST_CASE(a_daemon_of_an_agent_that_succeeded_ends_at_its_timeout_while_others_run)
{
    Sandbox sandbox;
    const auto pid_file = sandbox.dir / "daemon.pid";
    auto starts = shell_agent(
        "starts", fmt::format("setsid sleep 60 >/dev/null 2>&1 & echo $! > {0}.tmp; mv {0}.tmp {0}",
                              pid_file.string()));
    starts["timeout_s"] = 0.3;
    const auto result = sandbox.spawn(make_batch(std::vector<json>{starts, watcher_of(pid_file)}),
                                      {"--kill-grace", "0.5"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success'") ==
               2);
}

BOOST_AUTO_TEST_CASE(a_daemon_an_agent_left_holding_its_stdout_ends_with_the_batch)
{
    Sandbox sandbox;
    const auto pid_file = sandbox.dir / "daemon.pid";
    // The subshell exits at once: the daemon is an orphan in a session of its own.
    const auto result = sandbox.spawn(make_batch(
        {shell_agent("starter", fmt::format("(setsid sleep 60 & echo $! > {}); echo started",
                                            pid_file.string()))}));

    BOOST_TEST(result.exit_code == 0, result.err);
    const pid_t daemon = std::stoi(file_bytes(pid_file));
    const bool ended = eventually([&] { return !test_support::alive(daemon); });
    if (!ended) ::kill(daemon, SIGKILL);
    BOOST_TEST(ended);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success'") ==
               1);
}

BOOST_AUTO_TEST_CASE(sigterm_mid_batch_leaves_no_child_alive_and_rows_cancelled)
{
    Sandbox sandbox;
    const auto pids = sandbox.dir / "pids";
    fs::create_directory(pids);
    std::vector<json> agents;
    for (int i = 0; i < 3; ++i)
        agents.push_back(shell_agent(
            fmt::format("agent{}", i),
            fmt::format("sleep 60 & echo $! > {0}/{1}.grandchild; echo $$ > {0}/{1}.pid; wait",
                        pids.string(), i)));
    Background background;
    const pid_t tool =
        sandbox.start(background.children, make_batch(agents), {"--kill-grace", "1"});
    // Every pid file written whole: a shell creates the file before it writes the number.
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            for (int i = 0; i < 3; ++i)
                for (const auto* kind : {".pid", ".grandchild"}) {
                    const auto file = pids / (std::to_string(i) + kind);
                    if (!fs::exists(file) || !file_bytes(file).ends_with('\n')) return false;
                }
            return true;
        },
        &background));

    ::kill(tool, SIGTERM);
    const auto codes = background.finish_all();

    BOOST_TEST(codes.at(tool) == 128 + SIGTERM, background.finished[tool].err);
    for (const auto& entry : fs::directory_iterator(pids)) {
        const pid_t pid = std::stoi(file_bytes(entry.path()));
        BOOST_TEST(eventually([&] { return !test_support::alive(pid); }), entry.path()
                                                                              << " still alive");
    }
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'cancelled' "
                             "AND completed_at IS NOT NULL") == 3);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_batches WHERE finished_at IS NOT NULL") ==
               1);
    const auto events = events_of({0, background.finished[tool].out, {}});
    BOOST_TEST(events.back().at("failures").at("cancelled") == 3);
}

BOOST_AUTO_TEST_CASE(sigint_before_later_agents_start_records_them_cancelled)
{
    Sandbox sandbox;
    const auto ready = sandbox.dir / "first.ready";
    const std::vector<json> agents{
        shell_agent("first", fmt::format("touch {}; sleep 60", ready.string())),
        shell_agent("second", "echo never")};
    Background background;
    const pid_t tool = sandbox.start(background.children, make_batch(agents), {"--sequential"});
    BOOST_TEST_REQUIRE(eventually([&] { return fs::exists(ready); }, &background));

    ::kill(tool, SIGINT);
    const auto codes = background.finish_all();

    BOOST_TEST(codes.at(tool) == 128 + SIGINT);
    const auto rows = sandbox.rows("SELECT agent_name, outcome, pid IS NULL FROM "
                                   "agent_executions ORDER BY agent_name");
    BOOST_TEST_REQUIRE(rows.size() == 2u);
    BOOST_TEST(text(rows[0][1]) == "cancelled");
    BOOST_TEST(std::get<std::int64_t>(rows[0][2]) == 0);  // first: started, then cancelled
    BOOST_TEST(text(rows[1][1]) == "cancelled");
    BOOST_TEST(std::get<std::int64_t>(rows[1][2]) == 1);  // second: never started
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_metrics") == 1);
}

BOOST_AUTO_TEST_CASE(sigterm_while_the_database_is_held_is_answered_with_143)
{
    Sandbox sandbox;
    BOOST_TEST_REQUIRE(sandbox.spawn(make_batch({shell_agent("first", "true")})).exit_code == 0);
    const auto ran = sandbox.dir / "ran";
    auto holder = Database::open(sandbox.db);
    common::Transaction hold(holder);
    Background background;
    const pid_t tool =
        sandbox.start(background.children,
                      make_batch({shell_agent("second", fmt::format("touch {}", ran.string()))}),
                      {"--busy-timeout", "600000"});
    BOOST_TEST_REQUIRE(eventually([&] { return fs::exists(ran); }, &background));

    ::kill(tool, SIGTERM);
    // Answered while the database is still held, not after the busy timeout.
    const bool ended = eventually([&] { return background.finished.count(tool) > 0; }, &background);
    hold.rollback();
    background.finish_all();

    BOOST_TEST_REQUIRE(ended);
    const auto& finished = background.finished[tool];
    BOOST_TEST(finished.exit_code.value_or(-1) == 128 + SIGTERM, finished.err);
    BOOST_TEST(!finished.signal.has_value());
}

BOOST_AUTO_TEST_CASE(a_spec_lock_held_past_the_lock_timeout_is_75_with_every_row_recorded)
{
    Sandbox sandbox;
    fs::create_directories(sandbox.evidence / ".locks");
    const auto held = common::FileLock::acquire(sandbox.evidence / ".locks" / "SPEC-KIT-933.lock");
    const auto result =
        sandbox.spawn(make_batch({shell_agent("a", "echo hi"), shell_agent("b", "echo hi")}),
                      {"--lock-timeout", "200"});

    BOOST_TEST(result.exit_code == 75, result.err);
    BOOST_TEST(result.err.find("SPEC-KIT-933.lock: held by another process") != std::string::npos,
               result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success' "
                             "AND evidence_path IS NULL") == 2);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_batches WHERE finished_at IS NOT NULL") ==
               1);
}

BOOST_AUTO_TEST_CASE(kill_9_mid_batch_then_the_next_tool_marks_the_rows_lost)
{
    Sandbox sandbox;
    const auto pid_file = sandbox.dir / "agent.pid";
    Background background;
    const pid_t tool =
        sandbox.start(background.children,
                      make_batch({shell_agent("orphan", fmt::format("echo $$ > {}; exec sleep 60",
                                                                    pid_file.string()))}));
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            return fs::exists(pid_file) && fs::file_size(pid_file) > 0 && fs::exists(sandbox.db) &&
                   sandbox.count("SELECT count(*) FROM sqlite_master WHERE name = "
                                 "'spawn_batches'") == 1 &&
                   sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = "
                                 "'running'") == 1;
        },
        &background));
    ::kill(tool, SIGKILL);
    background.finish_all();
    // Its agent lives on in a group of its own, until the next tool ends it.
    const pid_t orphan = std::stoi(file_bytes(pid_file));
    BOOST_TEST_REQUIRE(test_support::alive(orphan));

    const auto next = sandbox.spawn(make_batch({shell_agent("next", "true")}));

    BOOST_TEST(next.exit_code == 0, next.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE agent_name = 'orphan' "
                             "AND outcome = 'lost'") == 1);
    const bool ended = eventually([&] { return !test_support::alive(orphan); });
    if (!ended) ::kill(-orphan, SIGKILL);
    BOOST_TEST(ended);
}

BOOST_AUTO_TEST_CASE(an_agent_sees_sigpipe_at_its_default_disposition)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(
        make_batch({shell_agent("pipe", "awk '/^SigIgn/ {print $2}' /proc/self/status")}));

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    const auto ignored = std::stoull(
        text(sandbox.rows("SELECT response_text FROM agent_executions")[0][0]), nullptr, 16);
    BOOST_TEST((ignored & (1ull << (SIGPIPE - 1))) == 0u);
}

BOOST_AUTO_TEST_CASE(a_database_busy_past_every_retry_is_exit_75_with_the_output_kept)
{
    Sandbox sandbox;
    const auto go = sandbox.dir / "go";
    std::vector<json> agents;
    for (int i = 0; i < 2; ++i)
        agents.push_back(shell_agent(
            fmt::format("agent{}", i),
            fmt::format("touch {0}/ready{1}; while [ ! -e {2} ]; do sleep 0.05; done; echo out{1}",
                        sandbox.dir.path().string(), i, go.string())));
    Background background;
    const pid_t tool =
        sandbox.start(background.children, make_batch(agents), {"--busy-timeout", "50"});
    BOOST_TEST_REQUIRE(eventually(
        [&] { return fs::exists(sandbox.dir / "ready0") && fs::exists(sandbox.dir / "ready1"); },
        &background));

    std::map<pid_t, int> codes;
    {
        auto holder = Database::open(sandbox.db);
        common::Transaction hold(holder);
        test_support::write_file(go, "");
        codes = background.finish_all();
        hold.rollback();
    }

    const auto& result = background.finished[tool];
    BOOST_TEST(codes.at(tool) == 75, result.err);
    // The agents' ends are still told, and their output kept.
    const auto events = events_of({0, result.out, {}});
    BOOST_TEST(events_named(events, "exited").size() == 2u);
    BOOST_TEST(events.back().at("successes") == 2);
    std::size_t outputs = 0;
    for (const auto& file : sandbox.evidence_files())
        if (file.parent_path() == "consensus/SPEC-KIT-933") ++outputs;
    BOOST_TEST(outputs == 2u);
}
