// spawn-agents CLI: bad input, refused databases and evidence roots, before any agent runs.
#define BOOST_TEST_MODULE test_cli_spawn_agents_refusals
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
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

BOOST_AUTO_TEST_CASE(an_evidence_root_on_a_read_only_mount_is_refused_before_any_agent_runs,
                     *boost::unit_test::label("needs_mount") *
                         boost::unit_test::precondition(test_support::can_mount))
{
    Sandbox sandbox;
    test_support::SmallFileSystem read_only(sandbox.evidence, 1, true);
    BOOST_TEST_REQUIRE(read_only.mounted());
    const auto marker = sandbox.dir / "ran";
    const auto result =
        sandbox.spawn(make_batch({shell_agent("a0", fmt::format("touch {}", marker.string()))}));

    BOOST_TEST(result.exit_code == 73, result.err);
    BOOST_TEST(result.err ==
                   fmt::format("spawn-agents: error: cannot create {}: Read-only file system\n",
                               (sandbox.evidence / "consensus").string()),
               result.err);
    BOOST_TEST(!fs::exists(marker));
    BOOST_TEST(!fs::exists(sandbox.db));
    BOOST_TEST(result.out.empty());
}

BOOST_AUTO_TEST_CASE(a_limit_on_open_files_with_no_room_for_an_agent_is_refused_before_anything)
{
    Sandbox sandbox;
    const auto marker = sandbox.dir / "ran";
    std::string command = "ulimit -n 32 && exec";
    for (const auto& arg : sandbox.argv({}))
        command += " '" + arg + "'";
    const auto result = test_support::run_process(
        {"sh", "-c", command},
        make_batch({shell_agent("a0", fmt::format("touch {}", marker.string()))}).dump(),
        sandbox.environment());

    BOOST_TEST(result.exit_code == 70, result.err);
    BOOST_TEST(result.err.find("the limit on open files leaves no room for an agent") !=
                   std::string::npos,
               result.err);
    BOOST_TEST(!fs::exists(marker));
    BOOST_TEST(!fs::exists(sandbox.db));
    BOOST_TEST(!fs::exists(sandbox.evidence));
    BOOST_TEST(result.out.empty());
}

BOOST_AUTO_TEST_CASE(an_evidence_root_that_is_a_file_is_refused_before_any_agent_runs)
{
    Sandbox sandbox;
    std::ofstream(sandbox.evidence.string()) << "a file in the way\n";
    const auto marker = sandbox.dir / "ran";
    const auto result =
        sandbox.spawn(make_batch({shell_agent("a0", fmt::format("touch {}", marker.string()))}));

    BOOST_TEST(result.exit_code == 73, result.err);
    BOOST_TEST(result.err.find("cannot create folder") != std::string::npos, result.err);
    BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    BOOST_TEST(!fs::exists(marker));
    BOOST_TEST(!fs::exists(sandbox.db));
    BOOST_TEST(result.out.empty());
    BOOST_TEST(file_bytes(sandbox.evidence) == "a file in the way\n");
}

namespace {

// Puts a link to an empty folder elsewhere at `link` (a folder of the evidence root, or the root
// itself) and runs a batch: refused with 73 naming `says`, before any agent ran, with nothing
// written through the link and no database made.
void check_folder_link_refused(const Sandbox& sandbox, const fs::path& link,
                               const std::string& says)
{
    const auto elsewhere = sandbox.dir / "elsewhere";
    fs::create_directories(elsewhere);
    fs::create_directories(link.parent_path());
    fs::create_directory_symlink(elsewhere, link);
    const auto marker = sandbox.dir / "ran";
    const auto result =
        sandbox.spawn(make_batch({shell_agent("a0", fmt::format("touch {}", marker.string()))}));

    BOOST_TEST(result.exit_code == 73, result.err);
    BOOST_TEST(result.err.find(says) != std::string::npos, result.err);
    BOOST_TEST(!fs::exists(marker));
    BOOST_TEST(fs::is_empty(elsewhere));
    BOOST_TEST(!fs::exists(sandbox.db));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_symlinked_spec_folder_is_refused_and_not_written_through)
{
    Sandbox sandbox;
    check_folder_link_refused(sandbox, sandbox.evidence / "consensus" / "SPEC-KIT-933",
                              "symbolic link");
}

BOOST_AUTO_TEST_CASE(a_symlinked_consensus_folder_is_refused_and_nothing_is_made_through_it)
{
    Sandbox sandbox;
    check_folder_link_refused(sandbox, sandbox.evidence / "consensus", "symbolic link");
}

BOOST_AUTO_TEST_CASE(a_symlinked_evidence_root_is_refused_before_any_agent_runs)
{
    Sandbox sandbox;
    check_folder_link_refused(sandbox, sandbox.evidence, "symlinked root");
}

BOOST_AUTO_TEST_CASE(a_lock_file_that_is_a_link_is_refused_before_any_agent_runs)
{
    Sandbox sandbox;
    const auto elsewhere = sandbox.dir / "elsewhere.lock";
    test_support::write_file(elsewhere, "");
    fs::create_directories(sandbox.evidence / ".locks");
    fs::create_symlink(elsewhere, sandbox.evidence / ".locks" / "SPEC-KIT-933.lock");
    const auto marker = sandbox.dir / "ran";
    const auto result =
        sandbox.spawn(make_batch({shell_agent("a0", fmt::format("touch {}", marker.string()))}));

    BOOST_TEST(result.exit_code == 73, result.err);
    BOOST_TEST(result.err.find("not a regular file") != std::string::npos, result.err);
    BOOST_TEST(!fs::exists(marker));
    BOOST_TEST(!fs::exists(sandbox.db));
    BOOST_TEST(file_bytes(elsewhere).empty());
}

BOOST_AUTO_TEST_CASE(a_spec_folder_swapped_for_a_link_while_agents_run_is_not_written_through)
{
    Sandbox sandbox;
    const auto elsewhere = sandbox.dir / "elsewhere";
    fs::create_directories(elsewhere);
    const auto consensus = sandbox.evidence / "consensus" / "SPEC-KIT-933";
    const auto commands = sandbox.evidence / "commands" / "SPEC-KIT-933";
    // The agent moves both spec folders aside and puts links to another folder in their place.
    const auto swap = fmt::format("echo answer; mv {0} {0}.moved && ln -s {2} {0} && "
                                  "mv {1} {1}.moved && ln -s {2} {1}",
                                  consensus.string(), commands.string(), elsewhere.string());
    const auto result = sandbox.spawn(make_batch({shell_agent("a0", swap)}));

    BOOST_TEST(result.exit_code == 73, result.err);
    BOOST_TEST(fs::is_symlink(consensus));
    BOOST_TEST(fs::is_empty(elsewhere));
    // The output went where it was staged: the folder the agent moved.
    const auto moved = fs::path(consensus.string() + ".moved");
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(moved))
        names.push_back(entry.path().filename().string());
    BOOST_TEST_REQUIRE(names.size() == 1u);
    BOOST_TEST(names[0].starts_with("SPEC-KIT-933_validate_a0_"), names[0]);
    BOOST_TEST(file_bytes(moved / names[0]) == "answer\n");
}

// Bad batches: each is refused with 65 before anything is written.
struct BadBatch {
    std::string name;
    std::string input;
    std::string message;  // part of the error
};

std::ostream& operator<<(std::ostream& out, const BadBatch& bad)
{
    return out << bad.name;
}

const std::vector<BadBatch> bad_batches{
    {"malformed", R"({"spec_id": "SPEC-KIT-1", "stage": )", "malformed JSON"},
    {"not an object", R"([1, 2])", "expected an object"},
    {"wrong type", R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": [{"name": "a",
       "command": "sh -c true"}]})",
     "agents[0].command"},
    {"unknown key", R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": [{"name": "a",
       "command": ["true"], "colour": "red"}]})",
     "agents[0].colour"},
    {"duplicate key", R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "stage": "tasks",
       "agents": [{"name": "a", "command": ["true"]}]})",
     "stage"},
    {"empty list", R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": []})", "agents"},
    {"duplicate agent", R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": [
       {"name": "a", "command": ["true"]}, {"name": "a", "command": ["true"]}]})",
     "agents[1].name"},
    {"missing command", R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": [
       {"name": "a"}]})",
     "agents[0].command"},
    {"bad phase_type", R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "phase_type": "gate",
       "agents": [{"name": "a", "command": ["true"]}]})",
     "phase_type"},
    {"bad spec_id", R"({"spec_id": "../etc", "stage": "plan", "agents": [
       {"name": "a", "command": ["true"]}]})",
     "spec_id"},
    {"secret of wrong type", R"({"spec_id": "SPEC-KIT-1", "stage": "plan", "agents": [
       {"name": "a", "command": ["true"], "env": {"KEY": 12345678}}]})",
     "agents[0].env.KEY"},
};

BOOST_DATA_TEST_CASE(a_bad_batch_is_exit_65_and_writes_nothing,
                     boost::unit_test::data::make(bad_batches), bad)
{
    Sandbox sandbox;
    const auto result = sandbox.spawn(bad.input);

    BOOST_TEST(result.exit_code == 65);
    BOOST_TEST(result.out.empty());
    BOOST_TEST(result.err.find(bad.message) != std::string::npos, result.err);
    BOOST_TEST(result.err.find("12345678") == std::string::npos);
    BOOST_TEST(!fs::exists(sandbox.db));
    BOOST_TEST(!fs::exists(sandbox.evidence));
}

// Databases spawn-agents must refuse, each made in rollback-journal mode by sqlite3(1).
const std::vector<std::pair<std::string, std::string>> refused_databases{
    {"a view named agent_executions",
     "CREATE TABLE t (x); CREATE VIEW agent_executions AS SELECT x AS agent_id FROM t;"},
    {"an agent_executions without its key",
     "CREATE TABLE agent_executions (spec_id TEXT, stage TEXT, agent_name TEXT);"},
    {"a newer toolkit schema", "CREATE TABLE spec_hygiene_schema (version INTEGER PRIMARY KEY); "
                               "INSERT INTO spec_hygiene_schema VALUES (99);"},
};

BOOST_DATA_TEST_CASE(a_refused_database_is_left_byte_for_byte_and_no_agent_runs,
                     boost::unit_test::data::xrange(refused_databases.size()), index)
{
    Sandbox sandbox;
    const auto& [what, sql] = refused_databases[index];
    const auto made = test_support::run_process(
        {"sqlite3", sandbox.db.string(), "PRAGMA journal_mode=DELETE; " + sql});
    BOOST_TEST_REQUIRE(made.exit_code == 0, made.err);
    const auto before = file_bytes(sandbox.db);
    const auto marker = sandbox.dir / "ran";

    const auto result =
        sandbox.spawn(make_batch({shell_agent("a", fmt::format("touch {}", marker.string()))}));

    BOOST_TEST(result.exit_code == 65, what << ": " << result.err);
    BOOST_TEST((file_bytes(sandbox.db) == before), what);
    BOOST_TEST(!fs::exists(sandbox.db.string() + "-wal"), what);
    BOOST_TEST(!fs::exists(sandbox.db.string() + "-shm"), what);
    BOOST_TEST(!fs::exists(marker), what);
    BOOST_TEST(result.out.empty(), what);
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_a_database_is_65_unchanged_with_no_agent_run)
{
    Sandbox sandbox;
    test_support::write_file(sandbox.db, std::string(4096, 'x'));
    const auto marker = sandbox.dir / "ran";

    const auto result =
        sandbox.spawn(make_batch({shell_agent("a", fmt::format("touch {}", marker.string()))}));

    BOOST_TEST(result.exit_code == 65, result.err);
    BOOST_TEST(file_bytes(sandbox.db) == std::string(4096, 'x'));
    BOOST_TEST(!fs::exists(marker));
}

BOOST_AUTO_TEST_CASE(a_database_held_by_another_writer_past_the_retries_is_75_before_any_agent)
{
    Sandbox sandbox;
    const auto made = test_support::run_process(
        {"sqlite3", sandbox.db.string(), "PRAGMA journal_mode=DELETE; CREATE TABLE t (x);"});
    BOOST_TEST_REQUIRE(made.exit_code == 0, made.err);
    auto holder = Database::open(sandbox.db);
    common::Transaction hold(holder);
    const auto marker = sandbox.dir / "ran";

    const auto result =
        sandbox.spawn(make_batch({shell_agent("a", fmt::format("touch {}", marker.string()))}),
                      {"--busy-timeout", "50"});
    hold.rollback();

    BOOST_TEST(result.exit_code == 75, result.err);
    BOOST_TEST(!fs::exists(marker));
}

BOOST_AUTO_TEST_CASE(a_missing_batch_file_is_exit_66)
{
    Sandbox sandbox;
    const auto result =
        sandbox.spawn(std::string(), {"--batch", (sandbox.dir / "nope.json").string()});

    BOOST_TEST(result.exit_code == 66);
    BOOST_TEST(!fs::exists(sandbox.db));
}

BOOST_AUTO_TEST_CASE(a_folder_as_the_batch_is_exit_65_named_or_on_standard_input)
{
    Sandbox sandbox;
    const auto folder = sandbox.dir.path().string();
    const auto named = sandbox.spawn(std::string(), {"--batch", folder});
    BOOST_TEST(named.exit_code == 65, named.err);
    // The shell opens the folder as standard input.
    auto argv = sandbox.argv({});
    const std::vector<std::string> shell{"sh", "-c", "exec \"$@\" < \"$0\"", folder};
    argv.insert(argv.begin(), shell.begin(), shell.end());
    const auto piped = test_support::run_process(argv, {}, sandbox.environment());
    BOOST_TEST(piped.exit_code == 65, piped.err);
    BOOST_TEST(piped.err == "spawn-agents: error: standard input is a folder, not a file\n");
    BOOST_TEST(!fs::exists(sandbox.db));
}

BOOST_AUTO_TEST_CASE(bad_usage_is_exit_64)
{
    Sandbox sandbox;
    BOOST_TEST(sandbox.spawn(std::string(), {"--jobs", "-1"}).exit_code == 64);
    BOOST_TEST(sandbox.spawn(std::string(), {"--no-such-flag"}).exit_code == 64);
    BOOST_TEST(sandbox.spawn(std::string(), {"--format", "table"}).exit_code == 64);
}
