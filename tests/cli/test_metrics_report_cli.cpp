#define BOOST_TEST_MODULE test_cli_metrics_report
#include <boost/test/unit_test.hpp>

#include "common/output.hpp"
#include "common/sqlite.hpp"
#include "metrics_report_cli.hpp"
#include "support/process.hpp"
#include "support/spawn_records.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace metrics_report_cli;
using test_support::file_bytes;
using test_support::write_file;

bool promtool_available()
{
    return test_support::run_process({"sh", "-c", "command -v promtool"}).exit_code == 0;
}

// Boost.Test marks a test whose precondition fails as skipped, with this message.
boost::test_tools::assertion_result promtool_installed(boost::unit_test::test_unit_id)
{
    boost::test_tools::assertion_result result(promtool_available());
    result.message() << "promtool is not installed (Debian package prometheus): skipped";
    return result;
}

// A folder `name` in the sandbox holding a copy of its database (and a WAL of `wal_bytes`
// when asked), none of which the user report_elsewhere() runs as can write; writable again
// when the test ends, so that the sandbox can be removed.
class UnwritableCopy {
public:
    UnwritableCopy(const Sandbox& sandbox, const std::string& name, const std::string& file,
                   std::size_t wal_bytes = 0)
        : m_folder(sandbox.dir / name), m_db(m_folder / file)
    {
        const auto read_only =
            fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read;
        fs::create_directories(m_folder);
        fs::copy_file(sandbox.db, m_db);
        fs::permissions(m_db, read_only);
        if (wal_bytes > 0) {
            write_file(m_db.string() + "-wal", std::string(wal_bytes, 'w'));
            fs::permissions(m_db.string() + "-wal", read_only);
        }
        fs::permissions(m_folder, read_only | fs::perms::owner_exec | fs::perms::group_exec |
                                      fs::perms::others_exec);
    }
    UnwritableCopy(const UnwritableCopy&) = delete;
    UnwritableCopy& operator=(const UnwritableCopy&) = delete;
    ~UnwritableCopy()
    {
        std::error_code ec;
        fs::permissions(m_folder, fs::perms::owner_all, fs::perm_options::add, ec);
    }
    const fs::path& db() const { return m_db; }

private:
    fs::path m_folder;
    fs::path m_db;
};

// metrics-report run by a user who cannot write what it did not make: root writes through
// file modes, so root runs it as nobody.
ProcessResult report_elsewhere(const Sandbox& sandbox, const std::vector<std::string>& args)
{
    std::vector<std::string> argv;
    if (::geteuid() == 0)
        argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
    argv.push_back(METRICS_REPORT_BIN);
    argv.insert(argv.end(), args.begin(), args.end());
    return test_support::run_process(argv, {}, sandbox.environment());
}

std::vector<std::string> folder_entries(const fs::path& folder)
{
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_wal_database_in_a_folder_the_user_cannot_write_is_read_immutably)
{
    Sandbox sandbox;
    sandbox.record(7);
    const UnwritableCopy copy(sandbox, "theirs", "hygiene.db");
    const auto& db = copy.db();
    const auto result = report_elsewhere(sandbox, {"--db", db.string(), "--json", "--verbose"});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result)["overall"]["count"] == 7);
    BOOST_TEST(result.err.find("read as an immutable file") != std::string::npos, result.err);
    BOOST_TEST((folder_entries(db.parent_path()) == std::vector<std::string>{"hygiene.db"}));
}

// Whether the test can read a database as another user than its owner: as root, with setpriv.
boost::test_tools::assertion_result root_with_setpriv(boost::unit_test::test_unit_id)
{
    boost::test_tools::assertion_result result(::geteuid() == 0 &&
                                               ::access("/usr/bin/setpriv", X_OK) == 0);
    result.message() << "reading as another user than the owner needs root and setpriv";
    return result;
}

BOOST_AUTO_TEST_CASE(another_users_read_leaves_no_wal_or_shm_beside_the_database,
                     *boost::unit_test::precondition(root_with_setpriv))
{
    // In a folder anyone may write, another user's read once left a -wal and a -shm of its
    // own, made with the database's mode 0644, and the owner could no longer write to it.
    Sandbox sandbox;
    sandbox.record(6);
    const auto folder = sandbox.dir / "shared";
    fs::create_directory(folder);
    fs::copy_file(sandbox.db, folder / "hygiene.db");
    fs::permissions(folder / "hygiene.db", fs::perms::owner_read | fs::perms::owner_write |
                                               fs::perms::group_read | fs::perms::others_read);
    fs::permissions(folder, fs::perms::all | fs::perms::sticky_bit);
    const auto result =
        report_elsewhere(sandbox, {"--db", (folder / "hygiene.db").string(), "--json"});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result)["overall"]["count"] == 6);
    BOOST_TEST((folder_entries(folder) == std::vector<std::string>{"hygiene.db"}));
}

BOOST_AUTO_TEST_CASE(an_unwritable_folder_with_a_uri_like_name_opens_that_literal_file)
{
    Sandbox sandbox;
    sandbox.record(4);
    const UnwritableCopy copy(sandbox, "a b%41?#", "file:x.db?immutable=0&mode=rw");
    const auto& db = copy.db();
    const auto result = report_elsewhere(sandbox, {"--db", db.string(), "--json"});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result)["overall"]["count"] == 4);
    BOOST_TEST(folder_entries(db.parent_path()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_unwritable_folder_whose_wal_holds_changes_is_77_naming_the_wal)
{
    Sandbox sandbox;
    sandbox.record(3);
    // What a writer that was killed leaves: frames in the WAL, not yet in the file.
    const UnwritableCopy copy(sandbox, "theirs", "hygiene.db", 4096);
    const auto& db = copy.db();
    const auto result = report_elsewhere(sandbox, {"--db", db.string(), "--json"});
    BOOST_TEST(result.exit_code == 77, result.err);
    BOOST_TEST(result.err.find("its WAL holds 4096 bytes") != std::string::npos, result.err);
    BOOST_TEST(result.out.empty());
}

BOOST_AUTO_TEST_CASE(a_missing_database_is_exit_66)
{
    Sandbox sandbox;
    const auto result = sandbox.report({});
    BOOST_TEST(result.exit_code == 66, result.err);
    BOOST_TEST(result.out.empty());
    BOOST_TEST(!fs::exists(sandbox.db));
}

BOOST_AUTO_TEST_CASE(an_empty_database_gives_zero_counts_a_message_and_exit_0)
{
    Sandbox sandbox;
    write_file(sandbox.db, "");
    const auto result = sandbox.report({"--json"});
    BOOST_TEST(result.exit_code == 0, result.err);
    const auto report = parse_report(result);
    BOOST_TEST(report["overall"]["count"] == 0);
    BOOST_TEST(report["batches"]["count"] == 0);
    BOOST_TEST(report["overall"]["success_rate"].is_null());
    BOOST_TEST(result.err.find("no agent spawns recorded yet") != std::string::npos, result.err);
    BOOST_TEST(file_bytes(sandbox.db).empty());
}

BOOST_AUTO_TEST_CASE(a_database_path_with_control_characters_reaches_stderr_as_escapes)
{
    Sandbox sandbox;
    const auto db = sandbox.dir / "odd\x1b[2J.db";
    write_file(db, "");
    const auto result = sandbox.report({"--json", "--verbose", "--db", db.string()});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(result.err.find("odd\\x1b[2J.db: no agent spawns recorded yet") != std::string::npos,
               result.err);
    BOOST_TEST(result.err.find('\x1b') == std::string::npos, result.err);
}

BOOST_AUTO_TEST_CASE(a_database_of_a_newer_toolkit_schema_is_exit_65)
{
    Sandbox sandbox;
    sandbox.record(1);
    {
        auto db = common::Database::open(sandbox.db);
        db.exec("INSERT INTO spec_hygiene_schema (version) VALUES (99)");
    }
    const auto result = sandbox.report({});
    BOOST_TEST(result.exit_code == 65, result.err);
    BOOST_TEST(result.err.find("newer") != std::string::npos, result.err);
}

BOOST_AUTO_TEST_CASE(a_malformed_stdin_line_is_exit_65_naming_the_line)
{
    Sandbox sandbox;
    const auto stream = sandbox.record(3);
    const auto lines = std::count(stream.begin(), stream.end(), '\n');
    const auto result = sandbox.report({"--from", "-"}, stream + "{\"event\": \"batch\",\n");
    BOOST_TEST(result.exit_code == 65);
    BOOST_TEST(result.err.find(fmt::format("stdin line {}: malformed JSON", lines + 1)) !=
                   std::string::npos,
               result.err);
    BOOST_TEST(result.out.empty());
}

BOOST_AUTO_TEST_CASE(a_spawn_agents_stream_on_stdin_gives_the_numbers_of_the_database)
{
    Sandbox sandbox;
    const auto stream = sandbox.record(45, 5);
    const auto from_db = parse_report(sandbox.report({"--json", "--compare"}));
    const auto from_stream =
        parse_report(sandbox.report({"--from", "-", "--json", "--compare"}, stream));
    BOOST_TEST(from_db["overall"]["count"] == 50);
    for (const auto* part : {"overall", "agents", "batches", "compare"})
        BOOST_TEST(from_db[part] == from_stream[part], part);
    BOOST_TEST(from_stream["source"] == "stream");
    BOOST_TEST(from_stream["health"].is_null());
    BOOST_TEST(from_db["health"]["database"]["path"] == sandbox.db.string());
}

BOOST_AUTO_TEST_CASE(a_real_spawn_agents_stream_gives_the_numbers_of_the_database)
{
    Sandbox sandbox;
    // Successes, an exit, a spawn failure and a signal, in parallel and sequential batches.
    const std::string batch = R"({"spec_id": "SPEC-KIT-933", "stage": "validate", "agents": [
        {"name": "gemini", "command": ["/bin/true"]},
        {"name": "claude", "command": ["/bin/sh", "-c", "echo reviewed"]},
        {"name": "code", "command": ["/bin/false"]},
        {"name": "qwen", "command": ["/nonexistent/agent"]},
        {"name": "grok", "command": ["/bin/sh", "-c", "kill -9 $$"]}]})";
    std::string stream;
    for (int i = 0; i < 4; ++i) {
        const auto run = sandbox.spawn(
            i % 2 ? std::vector<std::string>{"--sequential"} : std::vector<std::string>{}, batch);
        BOOST_TEST_REQUIRE(run.exit_code == 1, run.err);  // completed, with failures
        stream += run.out;
    }

    const auto from_db = parse_report(sandbox.report({"--json", "--compare"}));
    const auto from_stream =
        parse_report(sandbox.report({"--from", "-", "--json", "--compare"}, stream));
    const auto& overall = from_db["overall"];
    BOOST_TEST(overall["count"] == 20);
    BOOST_TEST(overall["successes"] == 8);
    BOOST_TEST(overall["failures"]["exit"] == 4);
    BOOST_TEST(overall["failures"]["spawn_failed"] == 4);
    BOOST_TEST(overall["failures"]["signal"] == 4);
    BOOST_TEST(overall["spawn_latency_ms"]["samples"] == 16);
    BOOST_TEST(from_db["batches"]["count"] == 4);
    for (const auto* part : {"overall", "agents", "batches", "compare"})
        BOOST_TEST(from_db[part] == from_stream[part], part << ":\n"
                                                            << from_db[part].dump() << "\n"
                                                            << from_stream[part].dump());
}

BOOST_AUTO_TEST_CASE(prometheus_output_passes_promtool_check_metrics,
                     *boost::unit_test::label("needs_promtool") *
                         boost::unit_test::precondition(promtool_installed))
{
    Sandbox sandbox;
    sandbox.record(98, 2);  // ten batches, five of each mode: the comparison has numbers
    {
        auto db = common::Database::open(sandbox.db);
        db.exec("INSERT INTO maintenance_runs (tool, started_at, finished_at, outcome, summary) "
                "VALUES ('db-vacuum', '2026-11-26 02:00:00', '2026-11-26 02:00:04', 'ok', '{}')");
    }
    fs::create_directories(sandbox.evidence / "consensus" / "SPEC-KIT-933");
    write_file(sandbox.evidence / "consensus" / "SPEC-KIT-933" / "a.json", "{}");
    const auto result = sandbox.report({"--format", "prometheus", "--compare"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(result.out.find("# TYPE spec_hygiene_spawn_latency_seconds summary") !=
               std::string::npos);
    BOOST_TEST(result.out.find("spec_hygiene_evidence_bytes{spec=\"SPEC-KIT-933\"} 2") !=
               std::string::npos);
    for (const auto* family :
         {"spec_hygiene_parallel_speedup_ratio{bound=\"lower\"}",
          "spec_hygiene_last_maintenance_timestamp_seconds{tool=\"db-vacuum\"",
          "spec_hygiene_agent_spawn_latency_seconds{agent=\"claude\",quantile=\"0.99\"}",
          "spec_hygiene_database_auto_vacuum_info{mode="})
        BOOST_TEST(result.out.find(family) != std::string::npos, family);
    const auto check = test_support::run_process({"promtool", "check", "metrics"}, result.out);
    BOOST_TEST(check.exit_code == 0, check.out << check.err);
    BOOST_TEST(check.out.empty(), check.out);
    BOOST_TEST(check.err.empty(), check.err);
}

BOOST_AUTO_TEST_CASE(prometheus_with_agent_names_of_any_bytes_passes_promtool_check_metrics,
                     *boost::unit_test::precondition(promtool_installed))
{
    Sandbox sandbox;
    {
        auto db = test_support::open_spawn_database(sandbox.db);
        test_support::RunRecorder recorder(db);
        BatchRun batch;
        // Every byte value once, and sequences that are not UTF-8.
        for (int byte = 0; byte < 256; ++byte)
            batch.agents.push_back(
                AgentRun{.agent = std::string("a") + static_cast<char>(byte) + "z"});
        for (const auto* name : {"\xc3", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
                                 "x\r\ny", "\"}\\{", "\xef\xbb\xbf"})
            batch.agents.push_back(AgentRun{.agent = name});
        recorder.add(batch);
    }
    const auto result = sandbox.report({"--format", "prometheus", "--window", "all"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(result.out.find('\r') == std::string::npos);
    const auto check = test_support::run_process({"promtool", "check", "metrics"}, result.out);
    BOOST_TEST(check.exit_code == 0, check.out << check.err);
    BOOST_TEST(check.err.empty(), check.err);
    // node_exporter's textfile collector refuses a whole file that repeats a series (promtool
    // does not look): 264 names, 264 series per agent family.
    std::set<std::string> series;
    std::string repeated;
    std::istringstream lines(result.out);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.front() != '#' &&
            !series.insert(line.substr(0, line.rfind(' '))).second && repeated.empty())
            repeated = line;
    BOOST_TEST(repeated.empty(), "repeated: " << repeated);
    std::size_t agents = 0;
    for (const auto& name : series)
        agents += name.starts_with("spec_hygiene_agent_success_ratio{") ? 1U : 0U;
    BOOST_TEST(agents == 264U);
}

// The value of the sample that begins with `series` in Prometheus text; -1 when none.
double sample_value(const std::string& text, const std::string& series)
{
    const auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
}

BOOST_AUTO_TEST_CASE(total_counters_never_decrease_when_the_window_slides_or_rows_are_purged)
{
    Sandbox sandbox;
    sandbox.record(10);
    const auto before = sandbox.report({"--format", "prometheus", "--window", "5"});
    BOOST_TEST_REQUIRE(before.exit_code == 0, before.err);
    BOOST_TEST(sample_value(before.out, "spec_hygiene_runs_total{outcome=\"success\"}") == 10);
    BOOST_TEST(sample_value(before.out, "spec_hygiene_window_runs{outcome=\"success\"}") == 5);
    BOOST_TEST(sample_value(before.out, "spec_hygiene_batches_total{mode=\"parallel\"}") == 1);
    BOOST_TEST(
        sample_value(before.out,
                     "spec_hygiene_agent_spawns_total{agent=\"gemini\",result=\"spawned\"}") == 5);
    {
        // What evidence-prune's row purge does.
        auto db = common::Database::open(sandbox.db);
        db.exec("DELETE FROM spawn_metrics; DELETE FROM agent_executions; DELETE FROM "
                "spawn_batches");
    }
    sandbox.record(3, 1);
    const auto after = sandbox.report({"--format", "prometheus"});
    BOOST_TEST_REQUIRE(after.exit_code == 0, after.err);
    BOOST_TEST(sample_value(after.out, "spec_hygiene_runs_total{outcome=\"success\"}") == 13);
    BOOST_TEST(sample_value(after.out, "spec_hygiene_runs_total{outcome=\"exit\"}") == 1);
    BOOST_TEST(sample_value(after.out, "spec_hygiene_window_runs{outcome=\"success\"}") == 3);
    BOOST_TEST(sample_value(after.out, "spec_hygiene_spawns_total{result=\"spawned\"}") == 14);
    // Window summaries carry no _count or _sum that would read as counter resets.
    BOOST_TEST(after.out.find("_count") == std::string::npos);
    BOOST_TEST(after.out.find("_sum") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(last_success_timestamp_per_tool_comes_from_its_last_ok_run)
{
    Sandbox sandbox;
    sandbox.record(1);
    {
        auto db = common::Database::open(sandbox.db);
        db.exec("INSERT INTO maintenance_runs (tool, started_at, finished_at, outcome, summary) "
                "VALUES ('db-vacuum', '2026-11-26 02:00:00', '2026-11-26 02:00:04', 'ok', '{}'),"
                "('db-vacuum', '2026-11-27 02:00:00', '2026-11-27 02:00:04', 'failed', '{}'),"
                "('evidence-prune', '2026-11-27 02:00:00', '2026-11-27 02:00:09', 'failed', '{}')");
    }
    const auto result = sandbox.report({"--format", "prometheus"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    // 2026-11-26 02:00:04 UTC
    BOOST_TEST(sample_value(result.out,
                            "spec_hygiene_last_success_timestamp_seconds{tool=\"db-vacuum\"}") ==
               1795658404.0);
    // A tool that never succeeded has no sample, so that absent() fires.
    BOOST_TEST(
        result.out.find("spec_hygiene_last_success_timestamp_seconds{tool=\"evidence-prune\"}") ==
        std::string::npos);
}

BOOST_AUTO_TEST_CASE(metrics_report_exports_its_own_success_as_the_time_it_wrote_the_report)
{
    Sandbox sandbox;
    sandbox.record(1);
    const auto before =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const auto result = sandbox.report({"--format", "prometheus"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    const auto after =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    // Never recorded in maintenance_runs (metrics-report writes no rows), yet present, so that
    // the absent() alert stays quiet while the daily job's file is rewritten.
    const auto own = sample_value(
        result.out, "spec_hygiene_last_success_timestamp_seconds{tool=\"metrics-report\"}");
    BOOST_TEST(own >= std::floor(before));
    BOOST_TEST(own <= std::ceil(after));
}

BOOST_AUTO_TEST_CASE(output_replaces_the_file_whole_and_leaves_no_temporary)
{
    Sandbox sandbox;
    sandbox.record(5);
    const auto target = sandbox.dir / "out" / "spec_hygiene.prom";
    fs::create_directories(target.parent_path());
    write_file(target, "old content\n");
    const auto result = sandbox.report({"--format", "prometheus", "--output", target.string()});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(result.out.empty());
    const auto written = file_bytes(target);
    BOOST_TEST(written.rfind("# HELP spec_hygiene_spawns_total", 0) == 0u);
    // The same text as on stdout, but for metrics-report's own success time: the two runs may
    // fall in different seconds.
    const auto without_own_time = [](const std::string& text) {
        const std::string own =
            "spec_hygiene_last_success_timestamp_seconds{tool=\"metrics-report\"}";
        std::string kept;
        std::istringstream lines(text);
        for (std::string line; std::getline(lines, line);)
            if (!line.starts_with(own)) kept += line + '\n';
        return kept;
    };
    BOOST_TEST(written.find("{tool=\"metrics-report\"}") != std::string::npos);
    BOOST_TEST(without_own_time(written) ==
               without_own_time(sandbox.report({"--format", "prometheus"}).out));
    BOOST_TEST(
        std::distance(fs::directory_iterator(target.parent_path()), fs::directory_iterator()) == 1);
    // node_exporter reads it as another user.
    BOOST_TEST(((fs::status(target).permissions() & fs::perms::others_read) != fs::perms::none));
}

BOOST_AUTO_TEST_CASE(a_failed_run_leaves_the_old_output_file_as_it_was)
{
    Sandbox sandbox;
    const auto target = sandbox.dir / "spec_hygiene.prom";
    write_file(target, "old content\n");
    // No database: the run fails before writing.
    const auto result = sandbox.report({"--format", "prometheus", "--output", target.string()});
    BOOST_TEST(result.exit_code == 66, result.err);
    BOOST_TEST(file_bytes(target) == "old content\n");
    BOOST_TEST(
        std::distance(fs::directory_iterator(sandbox.dir.path()), fs::directory_iterator()) == 2);
}

BOOST_AUTO_TEST_CASE(output_into_a_missing_folder_is_exit_73)
{
    Sandbox sandbox;
    sandbox.record(5);
    const auto target = sandbox.dir / "missing" / "spec_hygiene.prom";
    const auto result = sandbox.report({"--output", target.string()});
    BOOST_TEST(result.exit_code == 73, result.err);
    BOOST_TEST(!fs::exists(target.parent_path()));
}

BOOST_AUTO_TEST_CASE(output_naming_the_database_or_its_wal_is_exit_64_and_the_file_is_kept)
{
    // "--output" naming the database once replaced it with the report.
    Sandbox sandbox;
    sandbox.record(5);
    const auto before = file_bytes(sandbox.db);
    fs::create_symlink(sandbox.db, sandbox.dir / "link.db");
    for (const auto& target : {sandbox.db, sandbox.dir / "link.db",
                               sandbox.dir / ".." / sandbox.dir.path().filename() / "hygiene.db",
                               fs::path(sandbox.db.string() + "-wal")}) {
        BOOST_TEST_CONTEXT(target)
        {
            const auto result = sandbox.report({"--format", "prometheus", "--output", target});
            BOOST_TEST(result.exit_code == 64, result.err);
            BOOST_TEST(result.err.find("which the report reads; not replacing it") !=
                       std::string::npos);
        }
    }
    BOOST_TEST(file_bytes(sandbox.db) == before);
    BOOST_TEST(!fs::exists(sandbox.db.string() + "-wal"));
}

BOOST_AUTO_TEST_CASE(output_naming_the_from_stream_is_exit_64_and_the_stream_is_kept)
{
    Sandbox sandbox;
    const auto stream = sandbox.dir / "events.jsonl";
    write_file(stream, sandbox.record(5));
    const auto before = file_bytes(stream);
    const auto result = sandbox.report({"--from", stream.string(), "--output", stream.string()});
    BOOST_TEST(result.exit_code == 64, result.err);
    BOOST_TEST(file_bytes(stream) == before);
}

BOOST_AUTO_TEST_CASE(output_naming_a_device_or_a_fifo_is_exit_73_and_it_stays_one)
{
    Sandbox sandbox;
    sandbox.record(5);
    const auto fifo = sandbox.dir / "fifo";
    BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    fs::create_symlink("/dev/null", sandbox.dir / "null");
    for (const auto& target : {fifo, sandbox.dir / "null"}) {
        BOOST_TEST_CONTEXT(target)
        {
            const auto result = sandbox.report({"--format", "prometheus", "--output", target});
            BOOST_TEST(result.exit_code == 73, result.err);
            BOOST_TEST(result.out.empty());
        }
    }
    BOOST_TEST(fs::is_fifo(fifo));
    BOOST_TEST(fs::is_symlink(sandbox.dir / "null"));
    BOOST_TEST(fs::is_character_file("/dev/null"));
}

BOOST_AUTO_TEST_CASE(the_p95_gate_exits_1_exactly_when_broken)
{
    Sandbox sandbox;
    sandbox.record(40);  // 1..40 ms: p95 = 38 ms
    const auto kept = sandbox.report({"--max-p95-ms", "38"});
    BOOST_TEST(kept.exit_code == 0, kept.err);
    BOOST_TEST(kept.err.empty(), kept.err);
    const auto broken = sandbox.report({"--max-p95-ms", "37.5"});
    BOOST_TEST(broken.exit_code == 1);
    BOOST_TEST(broken.err ==
               "metrics-report: --max-p95-ms: p95 spawn latency 38 ms exceeds 37.5 ms\n");
    BOOST_TEST(json::accept(broken.out));
}

BOOST_AUTO_TEST_CASE(the_success_rate_gate_exits_1_exactly_when_broken)
{
    Sandbox sandbox;
    sandbox.record(38, 2);  // 38 of 40: 0.95
    BOOST_TEST(sandbox.report({"--min-success-rate", "0.95"}).exit_code == 0);
    const auto broken = sandbox.report({"--min-success-rate", "0.96"});
    BOOST_TEST(broken.exit_code == 1);
    BOOST_TEST(broken.err.find("success rate 0.9500 (38 of 40 finished runs) is below 0.96") !=
                   std::string::npos,
               broken.err);
}

BOOST_AUTO_TEST_CASE(a_gate_with_too_few_samples_says_so_and_passes_unless_required)
{
    Sandbox sandbox;
    sandbox.record(19);
    const auto lenient = sandbox.report({"--max-p95-ms", "1"});
    BOOST_TEST(lenient.exit_code == 0);
    BOOST_TEST(lenient.err.find("--max-p95-ms: only 19 spawn latencies") != std::string::npos,
               lenient.err);
    BOOST_TEST(lenient.err.find("not checked") != std::string::npos, lenient.err);
    const auto strict = sandbox.report({"--max-p95-ms", "1", "--require-samples"});
    BOOST_TEST(strict.exit_code == 1);
    BOOST_TEST(strict.err.find("failing (--require-samples)") != std::string::npos, strict.err);
}

BOOST_AUTO_TEST_CASE(runs_of_a_gone_spawner_are_reported_lost_and_the_file_is_unchanged)
{
    Sandbox sandbox;
    {
        auto db = test_support::open_spawn_database(sandbox.db);
        db.exec("PRAGMA journal_mode=DELETE");
        test_support::RunRecorder recorder(db);
        recorder.add(
            BatchRun{.agents = {AgentRun{.outcome = "running"}}, .batch_wall_us = std::nullopt},
            test_support::gone_process());
    }
    const auto before = file_bytes(sandbox.db);
    const auto result = sandbox.report({"--json"});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result)["overall"]["failures"]["lost"] == 1);
    BOOST_TEST(file_bytes(sandbox.db) == before);
    BOOST_TEST(!fs::exists(sandbox.db.string() + "-wal"));
}

BOOST_AUTO_TEST_CASE(every_format_prints_its_own_kind_of_report)
{
    Sandbox sandbox;
    sandbox.record(25);
    const auto table = sandbox.report({"--format", "table"});
    BOOST_TEST(table.out.find("Spawn latency, ms") != std::string::npos, table.out);
    const auto markdown = sandbox.report({"--format", "markdown"});
    BOOST_TEST(markdown.out.find("| agent | spawns |") != std::string::npos, markdown.out);
    const auto csv = sandbox.report({"--format", "csv"});
    BOOST_TEST(csv.out.rfind("scope,agent,spawns,successes,success_rate,", 0) == 0u, csv.out);
    BOOST_TEST(csv.out.find("\r\noverall,,25,25,1,") != std::string::npos, csv.out);
    // Not a terminal: JSON.
    BOOST_TEST(parse_report(sandbox.report({}))["tool"] == "metrics-report");
}

BOOST_AUTO_TEST_CASE(bad_options_are_exit_64)
{
    Sandbox sandbox;
    sandbox.record(1);
    for (const auto& args : std::vector<std::vector<std::string>>{{"--window", "0"},
                                                                  {"--window", "many"},
                                                                  {"--since", "yesterday"},
                                                                  {"--format", "xml"},
                                                                  {"--min-success-rate", "1.5"},
                                                                  {"--max-p95-ms", "-1"}}) {
        const auto result = sandbox.report(args);
        BOOST_TEST(result.exit_code == 64, args.front() << ": " << result.err);
    }
}

BOOST_AUTO_TEST_CASE(the_configuration_sets_the_window_and_a_gate_and_flags_win)
{
    Sandbox sandbox;
    sandbox.record(30);
    fs::create_directories(sandbox.dir / "config" / "spec-hygiene");
    write_file(sandbox.dir / "config" / "spec-hygiene" / "config.json",
               R"({"metrics-report": {"window": 10, "max_p95_ms": 1}})");
    const auto configured = sandbox.report({"--json"});
    BOOST_TEST(configured.exit_code == 0, configured.err);
    BOOST_TEST(parse_report(configured)["overall"]["count"] == 10);
    BOOST_TEST(configured.err.find("--max-p95-ms: only 10 spawn latencies") != std::string::npos,
               configured.err);
    const auto flagged = sandbox.report({"--window", "all", "--max-p95-ms", "100"});
    BOOST_TEST(flagged.exit_code == 0, flagged.err);
    BOOST_TEST(parse_report(flagged)["overall"]["count"] == 30);
}

BOOST_AUTO_TEST_CASE(from_reads_a_file_and_a_missing_one_is_exit_66)
{
    Sandbox sandbox;
    const auto events = sandbox.dir / "events.jsonl";
    write_file(events, sandbox.record(12));
    const auto result = sandbox.report({"--from", events.string(), "--json"});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result)["overall"]["count"] == 12);
    BOOST_TEST(parse_report(result)["origin"] == events.string());

    const auto missing = sandbox.report({"--from", (sandbox.dir / "none.jsonl").string()});
    BOOST_TEST(missing.exit_code == 66, missing.err);
}

BOOST_AUTO_TEST_CASE(quiet_keeps_notes_off_stderr_but_not_a_broken_gate)
{
    Sandbox sandbox;
    write_file(sandbox.db, "");
    const auto empty = sandbox.report({"--quiet", "--max-p95-ms", "1"});
    BOOST_TEST(empty.exit_code == 0);
    BOOST_TEST(empty.err.empty(), empty.err);
    const auto strict = sandbox.report({"--quiet", "--max-p95-ms", "1", "--require-samples"});
    BOOST_TEST(strict.exit_code == 1);
    BOOST_TEST(strict.err.find("--max-p95-ms: only 0 spawn latencies") != std::string::npos,
               strict.err);
}

BOOST_AUTO_TEST_CASE(from_stdin_that_cannot_be_read_is_exit_74)
{
    Sandbox sandbox;
    // Standard input open for writing only: every read fails with EBADF.
    const auto result = test_support::run_process(
        {"sh", "-c", "exec \"$0\" --from - --json 0>/dev/null", METRICS_REPORT_BIN}, {},
        sandbox.environment());
    BOOST_TEST(result.exit_code == 74, result.err);
    BOOST_TEST(result.err.find("stdin: cannot read") != std::string::npos, result.err);
    BOOST_TEST(result.out.empty());
}

BOOST_AUTO_TEST_CASE(from_a_folder_is_exit_65_named_or_on_standard_input)
{
    Sandbox sandbox;
    const auto folder = sandbox.dir.path().string();
    const auto named = sandbox.report({"--from", folder, "--json"});
    BOOST_TEST(named.exit_code == 65, named.err);
    BOOST_TEST(named.err ==
               "metrics-report: error: " + folder + ": is a folder, not a JSON Lines file\n");
    const auto piped = test_support::run_process(
        {"sh", "-c", "exec \"$0\" --from - --json < \"$1\"", METRICS_REPORT_BIN, folder}, {},
        sandbox.environment());
    BOOST_TEST(piped.exit_code == 65, piped.err);
    BOOST_TEST(piped.err == "metrics-report: error: stdin: is a folder, not a JSON Lines file\n");
    BOOST_TEST(piped.out.empty());
}

BOOST_AUTO_TEST_CASE(a_stream_line_longer_than_one_mebibyte_is_exit_65_naming_it)
{
    Sandbox sandbox;
    const auto stream = sandbox.record(2);
    const auto result = sandbox.report({"--from", "-", "--json"},
                                       stream + std::string((1 << 20) + 1, ' ') + "{}\n");
    BOOST_TEST(result.exit_code == 65, result.err);
    BOOST_TEST(result.err.find("line 6: longer than 1048576 bytes") != std::string::npos,
               result.err);
}
