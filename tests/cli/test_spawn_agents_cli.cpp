// spawn-agents CLI: batches that run, what they record and the evidence they write.
#define BOOST_TEST_MODULE test_cli_spawn_agents
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
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

using namespace spawn_agents_cli;
using namespace std::chrono_literals;
BOOST_AUTO_TEST_CASE(a_successful_batch_prints_spawned_exited_and_batch_events_and_exits_0)
{
    Sandbox sandbox;
    const auto result =
        sandbox.spawn(make_batch({shell_agent("gemini", "echo '{\"ok\":true}'"),
                                  shell_agent("claude", "echo plain text answer")}));

    BOOST_TEST(result.exit_code == 0, result.err);
    const auto events = events_of(result);
    BOOST_TEST_REQUIRE(events.size() == 5u);
    BOOST_TEST(events_named(events, "spawned").size() == 2u);
    BOOST_TEST(events_named(events, "exited").size() == 2u);
    const auto& batch = events.back();
    BOOST_TEST(batch.at("event") == "batch");
    BOOST_TEST(batch.at("tool") == "spawn-agents");
    BOOST_TEST(batch.at("schema_version") == 1);
    BOOST_TEST(batch.at("mode") == "parallel");
    BOOST_TEST(batch.at("agents") == 2);
    BOOST_TEST(batch.at("successes") == 2);
    BOOST_TEST(batch.at("failures").at("exit") == 0);
    for (const auto& spawned : events_named(events, "spawned")) {
        BOOST_TEST(spawned.at("batch_id") == batch.at("batch_id"));
        BOOST_TEST(spawned.at("outcome") == "running");
        BOOST_TEST(spawned.at("spawn_latency_us").get<std::int64_t>() > 0);
        BOOST_TEST(spawned.at("pid").get<std::int64_t>() > 0);
    }
}

BOOST_AUTO_TEST_CASE(the_batch_is_recorded_with_every_agent_and_spawn_metric)
{
    Sandbox sandbox;
    auto batch = make_batch(
        {shell_agent("gemini", "echo '{\"ok\":true}'"), shell_agent("claude", "echo answer")});
    batch["phase_type"] = "quality_gate";
    batch["run_id"] = "run-7";
    const auto result = sandbox.spawn(batch);
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);

    const auto batches = sandbox.rows("SELECT spec_id, stage, mode, agent_count, successes, "
                                      "phase_type, run_id, finished_at IS NOT NULL "
                                      "FROM spawn_batches");
    BOOST_TEST_REQUIRE(batches.size() == 1u);
    BOOST_TEST(text(batches[0][0]) == "SPEC-KIT-933");
    BOOST_TEST(text(batches[0][2]) == "parallel");
    BOOST_TEST(std::get<std::int64_t>(batches[0][3]) == 2);
    BOOST_TEST(std::get<std::int64_t>(batches[0][4]) == 2);
    BOOST_TEST(text(batches[0][5]) == "quality_gate");
    BOOST_TEST(text(batches[0][6]) == "run-7");
    BOOST_TEST(std::get<std::int64_t>(batches[0][7]) == 1);

    const auto agents = sandbox.rows(
        "SELECT agent_name, outcome, exit_code, phase_type, response_text, evidence_path, "
        "spawn_latency_us > 0, cpu_time_us IS NOT NULL, max_rss_kb > 0, completed_at IS NOT NULL "
        "FROM agent_executions ORDER BY agent_name");
    BOOST_TEST_REQUIRE(agents.size() == 2u);
    BOOST_TEST(text(agents[0][0]) == "claude");
    BOOST_TEST(text(agents[0][1]) == "success");
    BOOST_TEST(std::get<std::int64_t>(agents[0][2]) == 0);
    BOOST_TEST(text(agents[0][3]) == "quality_gate");
    BOOST_TEST(text(agents[0][4]) == "answer\n");
    BOOST_TEST(text(agents[0][5]).ends_with(".txt"));
    BOOST_TEST(text(agents[1][5]).ends_with(".json"));
    for (const auto& row : agents)
        for (std::size_t column = 6; column < 10; ++column)
            BOOST_TEST(std::get<std::int64_t>(row[column]) == 1);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_metrics WHERE success = 1 AND agent_id "
                             "IN (SELECT agent_id FROM agent_executions)") == 2);
}

BOOST_AUTO_TEST_CASE(agent_ids_are_version_7_uuids_that_begin_with_the_batch_time)
{
    Sandbox sandbox;
    std::vector<json> agents;
    for (int i = 0; i < 20; ++i)
        agents.push_back(shell_agent(fmt::format("a{}", i), "true"));
    const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const auto result = sandbox.spawn(make_batch(agents));
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);

    const std::regex version_7(
        "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    std::set<std::string> ids;
    for (const auto& row : sandbox.rows("SELECT agent_id FROM agent_executions")) {
        const auto id = text(row[0]);
        ids.insert(id);
        BOOST_TEST(std::regex_match(id, version_7), id);
        // The first 48 bits: the Unix time in milliseconds when the batch started.
        const auto ms = std::stoll(id.substr(0, 8) + id.substr(9, 4), nullptr, 16);
        BOOST_TEST(ms >= before);
        BOOST_TEST(ms <= after);
    }
    BOOST_TEST(ids.size() == 20u);
}

BOOST_AUTO_TEST_CASE(evidence_and_telemetry_are_written_private_under_the_spec)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(make_batch(
        {shell_agent("gemini", "echo '{\"ok\":true}'; echo warning >&2")}, "SPEC-OPS-004"));
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);

    const auto files = sandbox.evidence_files();
    std::vector<std::string> kinds;
    for (const auto& file : files) {
        const auto name = file.filename().string();
        if (file.parent_path() == "consensus/SPEC-OPS-004" && name.ends_with(".json"))
            kinds.push_back("output");
        else if (file.parent_path() == "consensus/SPEC-OPS-004" && name.ends_with("_stderr.txt"))
            kinds.push_back("stderr");
        else if (file.parent_path() == "commands/SPEC-OPS-004" &&
                 name.find("_validate_telemetry_") != std::string::npos)
            kinds.push_back("telemetry");
        else if (file == ".locks/SPEC-OPS-004.lock")
            kinds.push_back("lock");
        else
            kinds.push_back("unexpected " + file.string());
        struct stat info {};
        BOOST_TEST_REQUIRE(::stat((sandbox.evidence / file).c_str(), &info) == 0);
        BOOST_TEST((info.st_mode & 0777) == 0600u, file << " is not 0600");
    }
    std::sort(kinds.begin(), kinds.end());
    BOOST_TEST(kinds == (std::vector<std::string>{"lock", "output", "stderr", "telemetry"}),
               boost::test_tools::per_element());
    for (const auto* folder : {"", "consensus", "consensus/SPEC-OPS-004", "commands",
                               "commands/SPEC-OPS-004", ".locks"}) {
        struct stat info {};
        BOOST_TEST_REQUIRE(::stat((sandbox.evidence / folder).c_str(), &info) == 0);
        BOOST_TEST((info.st_mode & 0777) == 0700u, folder << " is not 0700");
    }
}

BOOST_AUTO_TEST_CASE(agents_ending_while_others_start_each_get_their_evidence_and_row)
{
    Sandbox sandbox;
    std::vector<json> agents;
    for (int i = 0; i < 40; ++i)
        agents.push_back(shell_agent(fmt::format("a{}", i), fmt::format("echo '{{\"n\":{}}}'", i)));
    const auto result = sandbox.spawn(make_batch(agents));
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);

    const auto rows =
        sandbox.rows("SELECT agent_name, evidence_path FROM agent_executions ORDER BY agent_name");
    BOOST_TEST_REQUIRE(rows.size() == 40u);
    for (const auto& row : rows) {
        const auto name = text(row.at(0));
        const auto path = text(row.at(1));
        BOOST_TEST_REQUIRE(path != "<null>", name << " has no evidence");
        BOOST_TEST(file_bytes(sandbox.evidence / path) ==
                   fmt::format("{{\"n\":{}}}\n", name.substr(1)));
    }
    for (const auto& file : sandbox.evidence_files())
        BOOST_TEST(file.extension() != ".tmp", file << " is a temporary left behind");
}

BOOST_AUTO_TEST_CASE(parallel_agents_overlap_and_sequential_ones_do_not)
{
    Sandbox sandbox;
    // Each agent records when it started and ended, in nanoseconds, as its response.
    std::vector<json> agents;
    for (int i = 0; i < 4; ++i)
        agents.push_back(shell_agent(fmt::format("agent{}", i),
                                     "s=$(date +%s%N); sleep 0.5; echo $s $(date +%s%N)"));
    const auto spans_of = [&](const std::string& mode) {
        std::vector<std::pair<long long, long long>> spans;
        for (const auto& row :
             sandbox.rows("SELECT e.response_text FROM agent_executions e JOIN spawn_batches b "
                          "USING (batch_id) WHERE b.mode = '" +
                          mode + "' ORDER BY e.agent_name")) {
            std::istringstream times(text(row[0]));
            long long started = 0;
            long long ended = 0;
            times >> started >> ended;
            spans.emplace_back(started, ended);
        }
        return spans;
    };

    const auto sequential = sandbox.spawn(make_batch(agents), {"--sequential"});
    const auto parallel = sandbox.spawn(make_batch(agents));

    BOOST_TEST_REQUIRE(sequential.exit_code == 0, sequential.err);
    BOOST_TEST_REQUIRE(parallel.exit_code == 0, parallel.err);
    const auto together = spans_of("parallel");
    const auto one_by_one = spans_of("sequential");
    BOOST_TEST_REQUIRE(together.size() == 4u);
    BOOST_TEST_REQUIRE(one_by_one.size() == 4u);
    // All four ran at once: the last start comes before the first end.
    long long last_start = 0;
    long long first_end = std::numeric_limits<long long>::max();
    for (const auto& [started, ended] : together) {
        last_start = std::max(last_start, started);
        first_end = std::min(first_end, ended);
    }
    BOOST_TEST(last_start < first_end);
    for (std::size_t i = 1; i < one_by_one.size(); ++i)
        BOOST_TEST(one_by_one[i].first >= one_by_one[i - 1].second);
}

BOOST_AUTO_TEST_CASE(under_sequential_each_spawn_is_recorded_before_the_next_agent_waits)
{
    Sandbox sandbox;
    // Each agent ends only once it sees its own row, running: with the spawns recorded only
    // after the last start, the first would wait for its timeout.
    const auto waits_for_its_row = [&](const std::string& name) {
        auto agent =
            shell_agent(name, fmt::format("until [ \"$(sqlite3 -readonly {} \"SELECT count(*) FROM "
                                          "agent_executions WHERE agent_name = '{}' AND outcome = "
                                          "'running'\" 2>/dev/null)\" = 1 ]; do sleep 0.05; done",
                                          sandbox.db.string(), name));
        agent["timeout_s"] = 20;
        return agent;
    };
    const auto result =
        sandbox.spawn(make_batch({waits_for_its_row("first"), waits_for_its_row("second"),
                                  waits_for_its_row("third")}),
                      {"--sequential"});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success'") ==
               3);
    BOOST_TEST(sandbox.count("SELECT agent_count FROM spawn_batches") == 3);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_metrics") == 3);
}

BOOST_AUTO_TEST_CASE(jobs_caps_how_many_agents_run_at_once)
{
    Sandbox sandbox;
    // Each agent notes how many marker files exist while it runs.
    const auto marks = sandbox.dir / "marks";
    fs::create_directory(marks);
    const auto script =
        fmt::format("touch {0}/$$; sleep 0.2; ls {0} | wc -l; rm {0}/$$", marks.string());
    std::vector<json> agents;
    for (int i = 0; i < 4; ++i)
        agents.push_back(shell_agent(fmt::format("agent{}", i), script));

    const auto result = sandbox.spawn(make_batch(agents), {"--jobs", "2"});

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    for (const auto& row : sandbox.rows("SELECT response_text FROM agent_executions"))
        BOOST_TEST(std::stoi(text(row[0])) <= 2);
}

BOOST_AUTO_TEST_CASE(a_missing_command_is_spawn_failed_while_the_others_succeed)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(
        make_batch({shell_agent("good", "echo fine"),
                    json{{"name", "missing"}, {"command", {"/nonexistent/agent-cli", "-p"}}},
                    shell_agent("also-good", "echo fine")}));

    BOOST_TEST(result.exit_code == 1, result.err);
    const auto events = events_of(result);
    BOOST_TEST(events_named(events, "exited").size() == 2u);  // none for the failed spawn
    for (const auto& spawned : events_named(events, "spawned")) {
        if (spawned.at("agent") != "missing") continue;
        BOOST_TEST(spawned.at("outcome") == "spawn_failed");
        BOOST_TEST(spawned.at("spawn_latency_us").is_null());
        BOOST_TEST(spawned.at("error").get<std::string>().find("/nonexistent/agent-cli") !=
                   std::string::npos);
    }
    BOOST_TEST(events.back().at("failures").at("spawn_failed") == 1);
    BOOST_TEST(events.back().at("successes") == 2);
    const auto failed =
        sandbox.rows("SELECT outcome, spawn_latency_us IS NULL, pid IS NULL FROM agent_executions "
                     "WHERE agent_name = 'missing'");
    BOOST_TEST_REQUIRE(failed.size() == 1u);
    BOOST_TEST(text(failed[0][0]) == "spawn_failed");
    BOOST_TEST(std::get<std::int64_t>(failed[0][1]) == 1);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_metrics WHERE success = 0") == 1);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success'") ==
               2);
}

BOOST_AUTO_TEST_CASE(a_spawn_failure_is_in_spawn_error_and_on_stderr_never_in_extraction_error)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(
        make_batch({json{{"name", "missing"}, {"command", {"/nonexistent/agent-cli", "-p"}}}}));

    BOOST_TEST(result.exit_code == 1, result.err);
    BOOST_TEST(result.err.find("missing: not started: cannot run /nonexistent/agent-cli") !=
                   std::string::npos,
               result.err);
    const auto rows = sandbox.rows("SELECT spawn_error, extraction_error IS NULL, "
                                   "response_text IS NULL FROM agent_executions");
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(text(rows[0][0]).find("/nonexistent/agent-cli") != std::string::npos);
    BOOST_TEST(std::get<std::int64_t>(rows[0][1]) == 1);
    BOOST_TEST(std::get<std::int64_t>(rows[0][2]) == 1);
}

BOOST_AUTO_TEST_CASE(branch_id_and_run_id_are_written_where_the_upstream_table_has_them)
{
    Sandbox sandbox;
    fixture::make_upstream_database(sandbox.db, {.bloat_bytes = 0, .specs = 1});
    Database::open(sandbox.db).exec("ALTER TABLE agent_executions ADD COLUMN branch_id TEXT");
    auto batch = make_batch({shell_agent("gemini", "true")});
    batch["run_id"] = "run-7";
    batch["branch_id"] = "branch-3";

    const auto result = sandbox.spawn(batch);

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE agent_name = 'gemini' "
                             "AND run_id = 'run-7' AND branch_id = 'branch-3'") == 1);
}

BOOST_AUTO_TEST_CASE(a_branch_id_adds_no_column_to_a_table_without_one)
{
    Sandbox sandbox;
    auto batch = make_batch({shell_agent("gemini", "true")});
    batch["branch_id"] = "branch-3";

    const auto result = sandbox.spawn(batch);

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM pragma_table_info('agent_executions') "
                             "WHERE name = 'branch_id'") == 0);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions") == 1);
}

BOOST_AUTO_TEST_CASE(a_missing_working_folder_is_spawn_failed)
{
    Sandbox sandbox;
    auto agent = shell_agent("lost", "true");
    agent["cwd"] = (sandbox.dir / "no-such-folder").string();
    const auto result = sandbox.spawn(make_batch({agent}));

    BOOST_TEST(result.exit_code == 1);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions "
                             "WHERE outcome = 'spawn_failed'") == 1);
}

BOOST_AUTO_TEST_CASE(exit_code_3_is_recorded_as_exit)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(make_batch({shell_agent("failing", "exit 3")}));

    BOOST_TEST(result.exit_code == 1);
    const auto rows = sandbox.rows("SELECT outcome, exit_code FROM agent_executions");
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(text(rows[0][0]) == "exit");
    BOOST_TEST(std::get<std::int64_t>(rows[0][1]) == 3);
    const auto exited = events_named(events_of(result), "exited");
    BOOST_TEST_REQUIRE(exited.size() == 1u);
    BOOST_TEST(exited[0].at("outcome") == "exit");
    BOOST_TEST(exited[0].at("exit_code") == 3);
}

BOOST_AUTO_TEST_CASE(twenty_spawn_agents_at_once_on_one_database_all_record_fully)
{
    Sandbox sandbox;
    Background background;
    std::vector<pid_t> tools;
    for (int i = 0; i < 20; ++i)
        tools.push_back(sandbox.start(
            background.children, make_batch({shell_agent("a", "echo a"), shell_agent("b", "echo b"),
                                             shell_agent("c", "exit 0")})));

    const auto codes = background.finish_all();

    for (const auto tool : tools) {
        BOOST_TEST(codes.at(tool) == 0, background.finished[tool].err);
        BOOST_TEST(background.finished[tool].err.find("busy") == std::string::npos,
                   background.finished[tool].err);
    }
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_batches WHERE finished_at IS NOT NULL "
                             "AND successes = 3") == 20);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success'") ==
               60);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM spawn_metrics") == 60);
}

BOOST_AUTO_TEST_CASE(a_secret_in_env_appears_in_no_file_row_or_output)
{
    Sandbox sandbox;
    const std::string secret = "sk-test-5ecret-value-0123456789";
    // The script tests the value's length, so that the secret is in the environment only.
    auto uses = shell_agent(
        "uses", fmt::format("test ${{#API_KEY}} -eq {} && echo has-key", secret.size()));
    uses["env"] = {{"API_KEY", secret}};
    auto fails = json{{"name", "fails"}, {"command", {"/nonexistent/cli"}}};
    fails["env"] = {{"API_KEY", secret}};
    const auto result = sandbox.spawn(make_batch({uses, fails}), {"--verbose"});

    BOOST_TEST(result.exit_code == 1);
    BOOST_TEST(result.out.find(secret) == std::string::npos);
    BOOST_TEST(result.err.find(secret) == std::string::npos);
    BOOST_TEST(text(sandbox.rows("SELECT response_text FROM agent_executions WHERE "
                                 "agent_name = 'uses'")[0][0]) == "has-key\n");
    for (const auto& file : sandbox.evidence_files())
        BOOST_TEST(file_bytes(sandbox.evidence / file).find(secret) == std::string::npos, file);
    // The database file, its WAL and anything else beside it.
    for (const auto& entry : fs::directory_iterator(sandbox.dir.path()))
        if (entry.is_regular_file())
            BOOST_TEST(file_bytes(entry.path()).find(secret) == std::string::npos, entry.path());
}

BOOST_AUTO_TEST_CASE(an_upstream_shaped_database_gets_rows_its_own_queries_expect)
{
    Sandbox sandbox;
    fixture::make_upstream_database(sandbox.db, {.bloat_bytes = 0, .specs = 3});
    const auto before = sandbox.count("SELECT count(*) FROM agent_executions");

    const auto result = sandbox.spawn(make_batch({shell_agent("gemini", "echo '{}'")}));

    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions") == before + 1);
    // The upstream's NOT NULL columns are filled.
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE spec_id = "
                             "'SPEC-KIT-933' AND stage = 'validate' AND phase_type = "
                             "'regular_stage' AND agent_name = 'gemini' AND spawned_at IS NOT "
                             "NULL AND completed_at IS NOT NULL") == 1);
    BOOST_TEST(sandbox.count("PRAGMA user_version") == 2);
}

BOOST_AUTO_TEST_CASE(the_batch_is_read_from_a_file)
{
    Sandbox sandbox;
    const auto file = sandbox.dir / "batch.json";
    test_support::write_file(file, make_batch({shell_agent("a", "true")}).dump());

    const auto result = sandbox.spawn(std::string(), {"--batch", file.string()});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions") == 1);
}

BOOST_AUTO_TEST_CASE(help_and_version_exit_0)
{
    Sandbox sandbox;
    const auto help = sandbox.spawn(std::string(), {"--help"});
    BOOST_TEST(help.exit_code == 0);
    BOOST_TEST(help.out.find("--sequential") != std::string::npos);
    const auto version = sandbox.spawn(std::string(), {"--version"});
    BOOST_TEST(version.exit_code == 0);
    BOOST_TEST(version.out.starts_with("spawn-agents (spec-hygiene) "));
}

BOOST_AUTO_TEST_CASE(a_closed_stdout_is_exit_74_and_the_batch_is_still_recorded)
{
    Sandbox sandbox;
    auto argv = sandbox.argv({});
    // sh closes stdout before exec'ing spawn-agents.
    std::string command = "exec >&-; exec";
    for (const auto& arg : argv)
        command += " '" + arg + "'";
    const auto result = test_support::run_process({"sh", "-c", command},
                                                  make_batch({shell_agent("a", "echo hi")}).dump(),
                                                  sandbox.environment());

    BOOST_TEST(result.exit_code == 74, result.err);
    BOOST_TEST(sandbox.count("SELECT count(*) FROM agent_executions WHERE outcome = 'success'") ==
               1);
}

BOOST_AUTO_TEST_CASE(the_example_batch_runs_from_the_source_tree)
{
    Sandbox sandbox;
    const auto result = test_support::run_process(
        {"sh", "-c",
         fmt::format("cd '{}' && exec '{}' --db '{}' --evidence '{}' --batch "
                     "examples/agents/batch.json",
                     SOURCE_DIR, SPAWN_AGENTS_BIN, sandbox.db.string(), sandbox.evidence.string())},
        {}, sandbox.environment());

    BOOST_TEST(result.exit_code == 1, result.err);  // the demo's "flaky" agent fails on purpose
    const auto batch = events_of(result).back();
    BOOST_TEST(batch.at("successes") == 3);
    BOOST_TEST(batch.at("failures").at("exit") == 1);
}
