// spawn-agents CLI: output and input whatever their size, bytes or pace: memory, descriptors,
// prompts, invalid UTF-8, and draining while the database is held.
#define BOOST_TEST_MODULE test_cli_spawn_agents_output
#include <boost/test/unit_test.hpp>

#include "common/lock.hpp"
#include "common/process.hpp"
#include "common/schema.hpp"
#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "spawn_agents_cli.hpp"
#include "support/process.hpp"
#include "support/small_file_system.hpp"
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
BOOST_AUTO_TEST_CASE(a_long_sequential_batch_holds_no_descriptor_per_finished_agent)
{
    Sandbox sandbox;
    std::vector<json> agents;
    for (int i = 0; i < 80; ++i)
        agents.push_back(shell_agent(fmt::format("a{}", i), "echo out; echo err >&2"));
    // 64 descriptors: fewer than the 160 files the finished agents leave before the last start.
    std::string command = "ulimit -n 64 && exec";
    for (const auto& arg : sandbox.argv({"--sequential"}))
        command += " '" + arg + "'";
    const auto result = test_support::run_process({"sh", "-c", command}, make_batch(agents).dump(),
                                                  sandbox.environment());

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success' "
                             "AND evidence_path IS NOT NULL") == 80);
    // 80 outputs, 80 stderr files, the telemetry and the lock.
    BOOST_TEST(sandbox.evidence_files().size() == 162u);
}

BOOST_AUTO_TEST_CASE(agents_beyond_the_open_file_limit_wait_for_a_free_place)
{
    Sandbox sandbox;
    std::vector<json> agents;
    for (int i = 0; i < 60; ++i)
        agents.push_back(shell_agent(fmt::format("a{}", i), "sleep 0.2"));
    // 128 descriptors, soft and hard: 32 kept back, 5 for a start, 4 for each agent.
    std::string command = "ulimit -n 128 && exec";
    for (const auto& arg : sandbox.argv({"--verbose"}))
        command += " '" + arg + "'";
    const auto result = test_support::run_process({"sh", "-c", command}, make_batch(agents).dump(),
                                                  sandbox.environment());

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(result.err.find("at most 22 agents at once: the limit on open files") !=
                   std::string::npos,
               result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success'") ==
               60);
}

BOOST_AUTO_TEST_CASE(ten_mb_on_each_stream_complete_with_response_capped_and_evidence_whole)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(
        make_batch({shell_agent("loud", "head -c 10485760 /dev/zero | tr '\\0' a; "
                                        "head -c 10485760 /dev/zero | tr '\\0' b >&2")}),
        {"--max-response", "1000"});

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    const auto rows = sandbox.rows("SELECT length(response_text), evidence_path "
                                   "FROM agent_executions");
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(std::get<std::int64_t>(rows[0][0]) == 1000);
    const auto output = sandbox.evidence / text(rows[0][1]);
    BOOST_TEST(fs::file_size(output) == 10485760u);
    auto errors = output;
    errors.replace_filename(output.stem().string() + "_stderr.txt");
    BOOST_TEST(fs::file_size(errors) == 10485760u);
    BOOST_TEST(file_bytes(output).find_first_not_of('a') == std::string::npos);
    BOOST_TEST(file_bytes(errors).find_first_not_of('b') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_agent_silent_on_stderr_leaves_no_stderr_file_and_no_temporary)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(
        make_batch({shell_agent("quiet", "echo answer"), shell_agent("noisy", "echo warn >&2")},
                   "SPEC-OPS-004"));

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(sandbox.evidence / "consensus/SPEC-OPS-004"))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    BOOST_TEST_REQUIRE(names.size() == 3u);
    BOOST_TEST(names[0].starts_with("SPEC-OPS-004_validate_noisy_"));
    BOOST_TEST(names[0].ends_with(".txt"));
    BOOST_TEST(names[1].starts_with("SPEC-OPS-004_validate_noisy_"));
    BOOST_TEST(names[1].ends_with("_stderr.txt"));
    BOOST_TEST(file_bytes(sandbox.evidence / "consensus/SPEC-OPS-004" / names[1]) == "warn\n");
    BOOST_TEST(names[2].starts_with("SPEC-OPS-004_validate_quiet_"));
    BOOST_TEST(!names[2].ends_with("_stderr.txt"));
}

BOOST_AUTO_TEST_CASE(stderr_that_fills_the_disk_is_cut_short_and_stdout_still_kept,
                     *boost::unit_test::label("needs_mount") *
                         boost::unit_test::precondition(test_support::can_mount))
{
    Sandbox sandbox;
    test_support::SmallFileSystem small(sandbox.evidence, 1);
    BOOST_TEST_REQUIRE(small.mounted());
    // 3 MB of stderr on a 1 MiB file system, after a line of stdout.
    const auto result = sandbox.spawn(make_batch(
        {shell_agent("loud", "echo out-ok; head -c 3000000 /dev/zero | tr '\\0' e >&2")}));

    BOOST_TEST(result.exit_code == 74, result.err);
    BOOST_TEST(result.err.find("No space left on device") != std::string::npos, result.err);
    const auto rows = sandbox.rows("SELECT outcome, evidence_path, response_text "
                                   "FROM agent_executions");
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(text(rows[0][0]) == "success");
    BOOST_TEST(text(rows[0][2]) == "out-ok\n");
    const auto output = sandbox.evidence / text(rows[0][1]);
    BOOST_TEST_REQUIRE(fs::is_regular_file(output), output);
    BOOST_TEST(file_bytes(output) == "out-ok\n");
    // What fitted of stderr is beside it, named; no temporary is left.
    auto stderr_file = output;
    stderr_file.replace_filename(output.stem().string() + "_stderr.txt");
    BOOST_TEST_REQUIRE(fs::is_regular_file(stderr_file), stderr_file);
    const auto kept = fs::file_size(stderr_file);
    BOOST_TEST(kept > 0u);
    BOOST_TEST(kept < 3000000u);
    BOOST_TEST(file_bytes(stderr_file) == std::string(kept, 'e'));
    for (const auto& file : sandbox.evidence_files())
        BOOST_TEST(!file.filename().string().ends_with(".tmp"), file);
}

BOOST_AUTO_TEST_CASE(four_agents_writing_200_mb_each_keep_the_peak_rss_under_32_mb_and_the_cap,
                     *boost::unit_test::label("measures_memory"))
{
    Sandbox sandbox;
    std::vector<json> agents;
    for (int i = 0; i < 4; ++i)
        agents.push_back(shell_agent(fmt::format("loud{}", i),
                                     "head -c 209715200 /dev/zero | tr '\\0' a; "
                                     "head -c 1048576 /dev/zero | tr '\\0' b >&2"));
    // Stderr passes through the tool on its way to its file: 200 MB of it too.
    agents.push_back(
        shell_agent("warns", "echo done; head -c 209715200 /dev/zero | tr '\\0' w >&2"));
    Background background;
    const pid_t tool = sandbox.start(background.children, make_batch(agents));
    const auto codes = background.finish_all();

    BOOST_TEST_REQUIRE(codes.at(tool) == 0, background.finished[tool].err);
    // wait4's peak covers the tool and every agent it reaped: an upper bound of its own.
    const std::int64_t cap_kb = 1024;
    BOOST_TEST(background.finished[tool].max_rss_kb <= 32 * 1024 + cap_kb);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success' "
                             "AND length(response_text) = 1048576") == 4);
    for (const auto& path :
         sandbox.rows("SELECT evidence_path FROM agent_executions WHERE agent_name LIKE 'loud%'"))
        BOOST_TEST(fs::file_size(sandbox.evidence / text(path[0])) == 209715200u);
    const auto warns =
        sandbox.rows("SELECT evidence_path FROM agent_executions WHERE agent_name = 'warns'");
    BOOST_TEST_REQUIRE(warns.size() == 1u);
    auto errors = sandbox.evidence / text(warns[0][0]);
    errors.replace_filename(errors.stem().string() + "_stderr.txt");
    BOOST_TEST(fs::file_size(errors) == 209715200u);
}

BOOST_AUTO_TEST_CASE(a_five_mb_prompt_to_an_agent_that_never_reads_it_completes)
{
    Sandbox sandbox;
    auto ignores = shell_agent("ignores", "echo done");
    ignores["prompt"] = std::string(5 << 20, 'p');
    auto reads = shell_agent("reads", "wc -c");
    reads["prompt"] = std::string(5 << 20, 'p');
    const auto result = sandbox.spawn(make_batch({ignores, reads}));

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto rows =
        sandbox.rows("SELECT response_text FROM agent_executions WHERE agent_name = 'reads'");
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(std::stol(text(rows[0][0])) == 5 << 20);
}

BOOST_AUTO_TEST_CASE(an_agent_without_a_prompt_reads_an_empty_stdin)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(make_batch({shell_agent("reader", "wc -c")}));

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(std::stoi(text(sandbox.rows("SELECT response_text FROM agent_executions")[0][0])) ==
               0);
}

BOOST_AUTO_TEST_CASE(a_writer_holding_the_database_does_not_stop_the_draining_of_output)
{
    Sandbox sandbox;
    const auto go = sandbox.dir / "go";
    std::vector<json> agents;
    for (int i = 0; i < 3; ++i)
        agents.push_back(
            shell_agent(fmt::format("agent{}", i),
                        fmt::format("touch {0}/ready{1}; while [ ! -e {2} ]; do sleep 0.05; done; "
                                    "head -c 4194304 /dev/zero | tr '\\0' a; touch {0}/done{1}",
                                    sandbox.dir.path().string(), i, go.string())));
    Background background;
    const pid_t tool = sandbox.start(background.children, make_batch(agents));
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            return fs::exists(sandbox.dir / "ready0") && fs::exists(sandbox.dir / "ready1") &&
                   fs::exists(sandbox.dir / "ready2");
        },
        &background));

    bool drained = false;
    {
        auto holder = Database::open(sandbox.db);
        common::Transaction hold(holder);
        const auto held_since = std::chrono::steady_clock::now();
        test_support::write_file(go, "");
        // 4 MiB each is far more than a pipe holds: the agents finish only if spawn-agents
        // keeps reading while its database writes wait.
        drained = eventually(
            [&] {
                return fs::exists(sandbox.dir / "done0") && fs::exists(sandbox.dir / "done1") &&
                       fs::exists(sandbox.dir / "done2");
            },
            &background);
        while (std::chrono::steady_clock::now() < held_since + 8s)
            background.pump(100ms);
        hold.rollback();
    }
    const auto codes = background.finish_all();

    BOOST_TEST(drained);
    BOOST_TEST(codes.at(tool) == 0, background.finished[tool].err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success' "
                             "AND length(response_text) = 1048576") == 3);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_batches WHERE finished_at IS NOT NULL") ==
               1);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_output_is_stored_and_emitted_without_a_crash)
{
    Sandbox sandbox;
    const auto result =
        sandbox.spawn(make_batch({shell_agent("binary", "printf 'ok \\377\\376 end'")}));

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    const auto rows = sandbox.rows("SELECT response_text, evidence_path FROM agent_executions");
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(text(rows[0][0]) == "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
    BOOST_TEST(file_bytes(sandbox.evidence / text(rows[0][1])) == "ok \xFF\xFE end");
}
