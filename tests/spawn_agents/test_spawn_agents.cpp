#define BOOST_TEST_MODULE spawn_agents
#include <boost/test/unit_test.hpp>

#include "batch.hpp"
#include "common/error.hpp"
#include "common/process_tree.hpp"
#include "common/runs.hpp"
#include "common/schema.hpp"
#include "evidence.hpp"
#include "options.hpp"
#include "spawn_agents.hpp"
#include "status.hpp"
#include "support/temp_dir.hpp"
#include "writer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using spawn_agents::parse_batch;

namespace {

// The exit code parse_batch throws for `text`, 0 when it accepts it.
int refusal(const std::string& text)
{
    try {
        parse_batch(text, "batch.json");
    } catch (const common::Error& error) {
        return common::to_int(error.code());
    }
    return 0;
}

std::string refusal_message(const std::string& text)
{
    try {
        parse_batch(text, "batch.json");
    } catch (const common::Error& error) {
        return error.what();
    }
    return {};
}

spawn_agents::Options options_for(const test_support::TempDir& dir)
{
    spawn_agents::Options options;
    options.shared.database = dir / "hygiene.db";
    options.shared.evidence = dir / "evidence";
    return options;
}

common::Database open_database(const test_support::TempDir& dir)
{
    auto db = common::Database::open(dir / "hygiene.db", {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    return db;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_batch_gets_its_defaults)
{
    const auto batch = parse_batch(R"({"spec_id": "SPEC-KIT-933", "stage": "validate",
        "agents": [{"name": "gemini", "command": ["gemini", "-p", "-"], "prompt": "hi",
                    "env": {"KEY": "v"}, "cwd": "/tmp", "timeout_s": 1.5}]})",
                                   "batch.json");

    BOOST_TEST(batch.phase_type == "regular_stage");
    BOOST_TEST(!batch.run_id.has_value());
    BOOST_TEST_REQUIRE(batch.agents.size() == 1u);
    const auto& agent = batch.agents.front();
    BOOST_TEST(agent.command.size() == 3u);
    BOOST_TEST(agent.prompt.value_or("") == "hi");
    BOOST_TEST(agent.env.at("KEY") == "v");
    BOOST_TEST(agent.cwd->string() == "/tmp");
    BOOST_TEST(agent.timeout_s.value_or(0) == 1.5);
}

BOOST_AUTO_TEST_CASE(errors_name_the_json_path)
{
    BOOST_TEST(refusal_message(R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": [
        {"name": "a", "command": ["true"]}, {"name": "b", "command": ["true"]},
        {"name": "c", "command": [1]}]})")
                   .find("agents[2].command") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_env_value_is_never_quoted_in_an_error)
{
    const auto message = refusal_message(R"({"spec_id": "SPEC-KIT-1", "stage": "plan",
        "agents": [{"name": "a", "command": ["true"], "env": {"KEY": ["s3cr3t"]}}]})");
    BOOST_TEST(message.find("agents[0].env") != std::string::npos);
    BOOST_TEST(message.find("s3cr3t") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(names_that_would_leave_the_evidence_folder_are_refused)
{
    BOOST_TEST(refusal(R"({"spec_id": "SPEC-KIT-1", "stage": "../x",
        "agents": [{"name": "a", "command": ["true"]}]})") == 65);
    BOOST_TEST(refusal(R"({"spec_id": "SPEC-KIT-1", "stage": "plan",
        "agents": [{"name": "a/b", "command": ["true"]}]})") == 65);
    BOOST_TEST(refusal(R"({"spec_id": "spec-kit-1", "stage": "plan",
        "agents": [{"name": "a", "command": ["true"]}]})") == 65);
}

BOOST_AUTO_TEST_CASE(agent_stage_and_variable_names_take_only_their_characters)
{
    const auto with_name = [](const std::string& name) {
        return fmt::format(R"({{"spec_id": "SPEC-KIT-1", "stage": "plan",
            "agents": [{{"name": "{}", "command": ["true"]}}]}})",
                           name);
    };
    const auto with_stage = [](const std::string& stage) {
        return fmt::format(R"({{"spec_id": "SPEC-KIT-1", "stage": "{}",
            "agents": [{{"name": "a", "command": ["true"]}}]}})",
                           stage);
    };
    const auto with_variable = [](const std::string& name) {
        return fmt::format(R"({{"spec_id": "SPEC-KIT-1", "stage": "plan",
            "agents": [{{"name": "a", "command": ["true"], "env": {{"{}": "v"}}}}]}})",
                           name);
    };
    for (const auto* name : {"a", "Z", "7", "gemini-2.5_pro.x", "a..b", "A-", "0_"}) {
        BOOST_TEST(refusal(with_name(name)) == 0, name);
        BOOST_TEST(refusal(with_stage(name)) == 0, name);
    }
    for (const auto* name :
         {"", ".a", "-a", "_a", "a b", "a/b", "a\\b", "a:b", "caf\u00e9", "a*"}) {
        BOOST_TEST(refusal(with_name(name)) == 65, name);
        BOOST_TEST(refusal(with_stage(name)) == 65, name);
    }
    BOOST_TEST(refusal_message(with_name(".a")) ==
               "batch.json: agents[0].name: expected letters, digits, '.', '_' or '-'");
    for (const auto* name : {"A", "_", "_9", "PATH", "my_var2"})
        BOOST_TEST(refusal(with_variable(name)) == 0, name);
    for (const auto* name : {"", "9A", "A-B", "A.B", "A B", "\u00c9"})
        BOOST_TEST(refusal(with_variable(name)) == 65, name);
    BOOST_TEST(refusal_message(with_variable("9A")) ==
               "batch.json: agents[0].env: '9A' is not a variable name");
}

BOOST_AUTO_TEST_CASE(a_timeout_must_be_positive)
{
    BOOST_TEST(refusal(R"({"spec_id": "SPEC-KIT-1", "stage": "plan",
        "agents": [{"name": "a", "command": ["true"], "timeout_s": 0}]})") == 65);
}

BOOST_AUTO_TEST_CASE(a_timeout_that_rounds_to_zero_milliseconds_is_refused)
{
    BOOST_TEST(refusal_message(R"({"spec_id": "SPEC-KIT-1", "stage": "plan",
        "agents": [{"name": "a", "command": ["true"], "timeout_s": 1e-300}]})") ==
               "batch.json: agents[0].timeout_s: expected seconds from 0.001 to a week");
    BOOST_TEST(refusal(R"({"spec_id": "SPEC-KIT-1", "stage": "plan",
        "agents": [{"name": "a", "command": ["true"], "timeout_s": 0.001}]})") == 0);
}

BOOST_AUTO_TEST_CASE(a_nul_in_command_cwd_or_env_is_refused_naming_its_path)
{
    const auto batch_with = [](const std::string& agent) {
        return R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": [)" + agent + "]}";
    };
    BOOST_TEST(refusal_message(batch_with(R"({"name": "a", "command": ["rm", "-f\u0000x"]})")) ==
               "batch.json: agents[0].command[1]: contains a NUL byte");
    BOOST_TEST(refusal_message(batch_with(R"({"name": "a", "command": ["true"],
        "cwd": "/tmp\u0000/x"})")) == "batch.json: agents[0].cwd: contains a NUL byte");
    const auto secret = refusal_message(batch_with(R"({"name": "a", "command": ["true"],
        "env": {"KEY": "s3cr3t\u0000more"}})"));
    BOOST_TEST(secret == "batch.json: agents[0].env.KEY: contains a NUL byte");
    BOOST_TEST(refusal(batch_with(R"({"name": "a", "command": ["true"],
        "env": {"K\u0000EY": "v"}})")) == 65);
}

BOOST_AUTO_TEST_CASE(names_making_a_file_name_over_255_bytes_are_refused_naming_the_field)
{
    const std::string long_name(220, 'n');
    BOOST_TEST(refusal_message(R"({"spec_id": "SPEC-KIT-1", "stage": "plan",
        "agents": [{"name": "a", "command": ["true"]}, {"name": ")" +
                               long_name + R"(", "command": ["true"]}]})") ==
               "batch.json: agents[1].name: too long: evidence file names would pass 255 bytes");
    BOOST_TEST(refusal_message(R"({"spec_id": "SPEC-KIT-1", "stage": ")" + long_name + R"(",
        "agents": [{"name": "a", "command": ["true"]}]})") ==
               "batch.json: stage: too long: evidence file names would pass 255 bytes");
    const std::string fits(255 - 46 - 10 - 4, 'f');
    BOOST_TEST(refusal(R"({"spec_id": "SPEC-KIT-1", "stage": "plan",
        "agents": [{"name": ")" +
                       fits + R"(", "command": ["true"]}]})") == 0);
}

BOOST_AUTO_TEST_CASE(the_response_is_cut_at_a_character_boundary)
{
    // "é" is two bytes: a cap of 2 must not keep half of it.
    BOOST_TEST(spawn_agents::capped_response("aé", 2) == "a");
    BOOST_TEST(spawn_agents::capped_response("abc", 10) == "abc");
    BOOST_TEST(spawn_agents::capped_response("ab\xFF", 10) == "ab\xEF\xBF\xBD");
}

BOOST_AUTO_TEST_CASE(outcomes_are_named_after_how_the_agent_ended)
{
    common::FinishedChild child;
    child.exit_code = 0;
    BOOST_TEST(spawn_agents::outcome_of(child) == "success");
    child.exit_code = 3;
    BOOST_TEST(spawn_agents::outcome_of(child) == "exit");
    child.exit_code.reset();
    child.signal = 9;
    child.ending = common::Ending::signaled;
    BOOST_TEST(spawn_agents::outcome_of(child) == "signal");
    child.ending = common::Ending::timed_out;
    BOOST_TEST(spawn_agents::outcome_of(child) == "timeout");
    child.ending = common::Ending::cancelled;
    BOOST_TEST(spawn_agents::outcome_of(child) == "cancelled");
}

BOOST_AUTO_TEST_CASE(the_status_line_rewrites_itself_with_elapsed_time_and_is_cleared_at_the_end)
{
    std::ostringstream err;
    auto now = std::chrono::steady_clock::time_point{};
    {
        spawn_agents::StatusLine status(
            &err, "SPEC-KIT-1 plan", [] { return std::size_t{200}; }, [&] { return now; });
        status.show({.agents = 2, .started = 2, .running = 1, .finished = 1});
        now += std::chrono::milliseconds(1500);
        status.show({.agents = 2, .started = 2, .running = 0, .finished = 1, .failed = 1});
    }
    BOOST_TEST(err.str() ==
               "\r\x1b[KSPEC-KIT-1 plan: 2 agents, 2 started, 1 running, 1 finished, 0 failed, "
               "0.0 s"
               "\r\x1b[KSPEC-KIT-1 plan: 2 agents, 2 started, 0 running, 1 finished, 1 failed, "
               "1.5 s"
               "\r\x1b[K");
}

BOOST_AUTO_TEST_CASE(the_status_line_is_clipped_to_the_terminal_width_read_at_each_redraw)
{
    std::ostringstream err;
    auto now = std::chrono::steady_clock::time_point{};
    std::size_t columns = 80;
    spawn_agents::StatusLine status(
        &err, "SPEC-KIT-933 validate", [&] { return columns; }, [&] { return now; });
    const spawn_agents::Progress progress{
        .agents = 200, .started = 200, .running = 100, .finished = 50, .failed = 50};
    status.show(progress);
    BOOST_TEST(err.str().size() == 4u + 79u);
    err.str("");
    columns = 40;  // the terminal was resized
    now += std::chrono::seconds(1);
    status.show(progress);
    BOOST_TEST(err.str() ==
               "\r\x1b[K" + std::string("SPEC-KIT-933 validate: 200 agents, 200 ").substr(0, 39));
}

BOOST_AUTO_TEST_CASE(redraws_come_at_most_every_100_ms)
{
    std::ostringstream err;
    auto now = std::chrono::steady_clock::time_point{};
    spawn_agents::StatusLine status(
        &err, "S", [] { return std::size_t{200}; }, [&] { return now; });
    for (int i = 0; i < 200; ++i) {
        status.show({.agents = 200, .started = static_cast<std::size_t>(i)});
        now += std::chrono::milliseconds(1);
    }
    // 200 updates over 200 ms: drawn at 0, 100 ms and 200 ms at most.
    std::size_t draws = 0;
    for (std::size_t at = err.str().find('\r'); at != std::string::npos;
         at = err.str().find('\r', at + 1))
        ++draws;
    BOOST_TEST(draws == 2u);
}

BOOST_AUTO_TEST_CASE(run_batch_reports_a_sequential_batch_and_its_failures)
{
    test_support::TempDir dir;
    auto options = options_for(dir);
    options.sequential = true;
    const auto batch = parse_batch(R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": [
        {"name": "ok", "command": ["true"]}, {"name": "bad", "command": ["false"]}]})",
                                   "batch.json");
    std::ostringstream out;
    std::ostringstream err;

    const int code = spawn_agents::run_batch(batch, options, open_database(dir), out, err);

    BOOST_TEST(code == 1);
    std::istringstream lines(out.str());
    std::string line;
    std::string last;
    while (std::getline(lines, line))
        last = line;
    const auto summary = nlohmann::json::parse(last);
    BOOST_TEST(summary.at("mode") == "sequential");
    BOOST_TEST(summary.at("successes") == 1);
    BOOST_TEST(summary.at("failures").at("exit") == 1);
    BOOST_TEST(err.str().empty());  // no status line without a terminal, nothing verbose
}

namespace {

// A terminal that goes away at the status line's second draw: the batch throws part-way.
class FailingTerminal : public std::stringbuf {
protected:
    std::streamsize xsputn(const char* text, std::streamsize n) override
    {
        if (n > 0 && text[0] == '\r' && ++m_draws == 2) throw std::runtime_error("stderr is gone");
        return std::stringbuf::xsputn(text, n);
    }

private:
    int m_draws = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_batch_that_throws_part_way_still_ends_what_its_agents_left_behind)
{
    BOOST_TEST_REQUIRE(common::become_subreaper());
    test_support::TempDir dir;
    auto options = options_for(dir);
    options.sequential = true;
    options.status_line = true;
    const auto pid_file = dir / "daemon.pid";
    // The first agent leaves a daemon of its own session behind and ends; the status line's
    // next draw, while or after the second one runs, throws.
    const auto batch = parse_batch(
        nlohmann::json{{"spec_id", "SPEC-KIT-1"},
                       {"stage", "plan"},
                       {"agents",
                        {{{"name", "leaver"},
                          {"command",
                           {"sh", "-c",
                            "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > '" +
                                pid_file.string() + "'"}}},
                         {{"name", "slow"}, {"command", {"sleep", "0.5"}}}}}}
            .dump(),
        "batch.json");
    std::ostringstream out;
    FailingTerminal terminal;
    std::ostream err(&terminal);
    err.exceptions(std::ios::badbit);

    BOOST_CHECK_THROW(spawn_agents::run_batch(batch, options, open_database(dir), out, err),
                      std::exception);

    std::ifstream in(pid_file);
    pid_t daemon = 0;
    BOOST_TEST_REQUIRE(static_cast<bool>(in >> daemon));
    const auto stat = common::read_process_stat(daemon);
    const bool alive = stat && !stat->zombie;
    if (alive) ::kill(daemon, SIGKILL);  // not left behind by a failing test
    BOOST_TEST(!alive);
}

BOOST_AUTO_TEST_CASE(options_read_the_configuration_section)
{
    test_support::TempDir dir;
    const auto config = dir / "config.json";
    test_support::write_file(config, R"({"spawn-agents": {"jobs": 3, "timeout_s": 2.5,
        "grace_s": 0.5, "response_cap_bytes": 100}})");
    std::vector<std::string> words{
        "spawn-agents",        "--config",   config.string(),      "--db",
        (dir / "db").string(), "--evidence", (dir / "ev").string()};
    std::vector<char*> argv;
    for (auto& word : words)
        argv.push_back(word.data());
    const auto no_env = [](const char*) -> std::optional<std::string> { return std::nullopt; };

    const auto options = spawn_agents::parse_options(argv, no_env, true);

    BOOST_TEST(options.jobs == 3);
    BOOST_TEST(options.timeout.count() == 2500);
    BOOST_TEST(options.kill_grace.count() == 500);
    BOOST_TEST(options.max_response == 100);
    BOOST_TEST(options.status_line);
}

BOOST_AUTO_TEST_CASE(staged_outputs_are_named_when_committed_and_skip_names_taken_meanwhile)
{
    test_support::TempDir dir;
    const auto time = std::chrono::system_clock::from_time_t(1'763'115'300);  // 10:15:00 UTC
    spawn_agents::EvidenceStore store(dir / "evidence", "SPEC-1", "plan", time);
    const std::vector<std::string> agents{"claude", "gemini"};
    std::vector<spawn_agents::StagedOutput> staged;
    for (const auto& agent : agents)
        staged.push_back(store.stage_agent(agent));
    staged[0].output->write("{\"ok\":1}");
    staged[0].append_errors("wa");
    staged[0].append_errors("rn\n");
    staged[1].output->write("plain");
    const auto claude_facts = spawn_agents::EvidenceStore::inspect(staged[0], 4);
    const auto gemini_facts = spawn_agents::EvidenceStore::inspect(staged[1], 100);
    BOOST_TEST(claude_facts.head == "{\"ok\"");
    BOOST_TEST(claude_facts.stdout_bytes == 8u);
    BOOST_TEST(claude_facts.stderr_bytes == 5u);
    BOOST_TEST(gemini_facts.head == "plain");
    BOOST_TEST(gemini_facts.stderr_bytes == 0u);

    // Staged: nothing under its name yet.
    const auto folder = dir / "evidence" / "consensus" / "SPEC-1";
    const std::string claude = "SPEC-1_plan_claude_20251114_101500";
    BOOST_TEST(!std::filesystem::exists(folder / (claude + ".json")));
    // Another batch of the same second takes claude's name before the commit.
    std::ofstream(folder / (claude + ".json")) << "theirs";

    const auto evidence = store.commit_agent_outputs(agents, std::move(staged));

    BOOST_TEST_REQUIRE(evidence.size() == 2u);
    BOOST_TEST(!evidence[0].error);
    BOOST_TEST(evidence[0].output == "consensus/SPEC-1/" + claude + "_2.json");
    BOOST_TEST(evidence[0].errors == "consensus/SPEC-1/" + claude + "_2_stderr.txt");
    BOOST_TEST(test_support::file_bytes(folder / (claude + ".json")) == "theirs");
    BOOST_TEST(test_support::file_bytes(folder / (claude + "_2.json")) == "{\"ok\":1}");
    BOOST_TEST(test_support::file_bytes(folder / (claude + "_2_stderr.txt")) == "warn\n");
    BOOST_TEST(!evidence[1].error);
    BOOST_TEST(evidence[1].output == "consensus/SPEC-1/SPEC-1_plan_gemini_20251114_101500.txt");
    BOOST_TEST(evidence[1].errors.empty());
    // Those four files and no temporary.
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    const std::vector<std::string> expected{claude + ".json", claude + "_2.json",
                                            claude + "_2_stderr.txt",
                                            "SPEC-1_plan_gemini_20251114_101500.txt"};
    BOOST_TEST(names == expected, boost::test_tools::per_element());
}
