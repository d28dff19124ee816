#define BOOST_TEST_MODULE test_metrics_report
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/sqlite.hpp"
#include "metrics_report.hpp"
#include "support/process.hpp"
#include "support/spawn_records.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>

#include <limits>
#include <sstream>

namespace {

using metrics_report::Outcome;
using metrics_report::Report;
using metrics_report::Selection;
using test_support::AgentRun;
using test_support::BatchRun;

struct Recorded {
    test_support::TempDir dir;
    common::Database db = test_support::open_spawn_database(dir / "hygiene.db");
    test_support::RunRecorder recorder{db};

    Report report(const Selection& selection = {}, bool compare = false) const
    {
        metrics_report::ReportBuilder builder;
        metrics_report::read_database(db, selection, builder);
        Report result;
        builder.finish(result, compare);
        return result;
    }

    Report stream_report(const Selection& selection = {}, bool compare = false) const
    {
        std::istringstream in(recorder.stream());
        metrics_report::ReportBuilder builder;
        metrics_report::read_stream(in, "stdin", selection, builder);
        Report result;
        builder.finish(result, compare);
        return result;
    }
};

Report stream_report_of(const std::string& text)
{
    std::istringstream in(text);
    metrics_report::ReportBuilder builder;
    metrics_report::read_stream(in, "stdin", {}, builder);
    Report result;
    builder.finish(result, false);
    return result;
}

// Batches of `mode` with the given whole-batch wall times (µs).
void add_batches(test_support::RunRecorder& recorder, const std::string& mode,
                 const std::vector<std::int64_t>& walls)
{
    for (const auto wall : walls) {
        BatchRun batch;
        batch.mode = mode;
        batch.agents = {AgentRun{}, AgentRun{.agent = "claude"}};
        batch.batch_wall_us = wall;
        recorder.add(batch);
    }
}

bool data_error_naming(const common::Error& error, const std::string& text)
{
    BOOST_TEST_INFO(error.what());
    return error.code() == common::Exit::data &&
           std::string(error.what()).find(text) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(percentiles_of_one_to_hundred_ms_are_nearest_rank)
{
    Recorded recorded;
    // Out of order, over several batches: 1..100 ms.
    std::vector<AgentRun> runs;
    for (int i = 0; i < 100; ++i)
        runs.push_back(AgentRun{.spawn_latency_us = ((i * 37) % 100 + 1) * 1000});
    for (std::size_t first = 0; first < runs.size(); first += 25)
        recorded.recorder.add(
            BatchRun{.agents = {runs.begin() + static_cast<std::ptrdiff_t>(first),
                                runs.begin() + static_cast<std::ptrdiff_t>(first + 25)}});

    const auto latency = metrics_report::to_json(recorded.report().overall)["spawn_latency_ms"];
    BOOST_TEST(latency["samples"] == 100);
    BOOST_TEST(latency["p50"] == 50.0);
    BOOST_TEST(latency["p95"] == 95.0);
    BOOST_TEST(latency["p99"] == 99.0);
    BOOST_TEST(latency["min"] == 1.0);
    BOOST_TEST(latency["max"] == 100.0);
    BOOST_TEST(latency["mean"] == 50.5);
}

BOOST_AUTO_TEST_CASE(nineteen_samples_give_null_p95_and_p99)
{
    Recorded recorded;
    recorded.recorder.add(
        BatchRun{.agents = test_support::agents_with_latencies("gemini", 19, 1000, 1000)});
    const auto latency = metrics_report::to_json(recorded.report().overall)["spawn_latency_ms"];
    BOOST_TEST(latency["samples"] == 19);
    BOOST_TEST(latency["p50"] == 10.0);
    BOOST_TEST(latency["p95"].is_null());
    BOOST_TEST(latency["p99"].is_null());
}

BOOST_AUTO_TEST_CASE(a_window_of_1000_out_of_5000_spawns_takes_the_newest)
{
    Recorded recorded;
    for (int batch = 0; batch < 50; ++batch)
        recorded.recorder.add(BatchRun{
            .agents = test_support::agents_with_latencies("gemini", 100, batch * 100 + 1, 1)});

    const auto report = recorded.report();
    BOOST_TEST(report.overall.count == 1000);
    BOOST_TEST(*report.overall.spawn_latency_us.min == 4001);
    BOOST_TEST(*report.overall.spawn_latency_us.max == 5000);

    Selection all;
    all.spawns = std::nullopt;
    all.batches = std::nullopt;
    BOOST_TEST(recorded.report(all).overall.count == 5000);
    BOOST_TEST(recorded.report(all).batches.count == 50);
    BOOST_TEST(recorded.report().batches.count == 50);  // fewer than the 100 of the default
}

BOOST_AUTO_TEST_CASE(failures_are_counted_by_class_and_spawn_failures_left_out_of_latency)
{
    Recorded recorded;
    BatchRun batch;
    batch.agents = {AgentRun{.spawn_latency_us = 100}, AgentRun{.spawn_latency_us = 300},
                    // A writer that recorded 0 for a failed spawn must not pull the minimum down.
                    AgentRun{.outcome = "spawn_failed",
                             .spawn_latency_us = 0,
                             .run_time_ms = {},
                             .cpu_time_us = {},
                             .max_rss_kb = {}},
                    AgentRun{.outcome = "spawn_failed",
                             .spawn_latency_us = {},
                             .run_time_ms = {},
                             .cpu_time_us = {},
                             .max_rss_kb = {}},
                    AgentRun{.outcome = "exit", .spawn_latency_us = 200},
                    AgentRun{.outcome = "timeout", .spawn_latency_us = 200},
                    AgentRun{.outcome = "signal", .spawn_latency_us = 200},
                    AgentRun{.outcome = "cancelled", .spawn_latency_us = 200}};
    recorded.recorder.add(batch);

    const auto overall = recorded.report().overall;
    BOOST_TEST(overall.count == 8);
    BOOST_TEST(overall.successes() == 2);
    BOOST_TEST(overall.of(Outcome::spawn_failed) == 2);
    BOOST_TEST(overall.of(Outcome::exit) == 1);
    BOOST_TEST(overall.of(Outcome::timeout) == 1);
    BOOST_TEST(overall.of(Outcome::signal) == 1);
    BOOST_TEST(overall.of(Outcome::cancelled) == 1);
    BOOST_TEST(*overall.success_rate() == 0.25);
    BOOST_TEST(overall.spawn_latency_us.count == 6u);
    BOOST_TEST(*overall.spawn_latency_us.min == 100);
    BOOST_TEST(overall.run_time_ms.count == 6u);
}

BOOST_AUTO_TEST_CASE(running_rows_of_a_gone_spawner_count_as_lost_and_live_ones_as_running)
{
    Recorded recorded;
    BatchRun batch;
    batch.agents = {AgentRun{.outcome = "running", .run_time_ms = {}}};
    batch.batch_wall_us = std::nullopt;
    recorded.recorder.add(batch, test_support::gone_process());
    recorded.recorder.add(batch, common::current_process());

    const auto overall = recorded.report().overall;
    BOOST_TEST(overall.of(Outcome::lost) == 1);
    BOOST_TEST(overall.of(Outcome::running) == 1);
    BOOST_TEST(overall.finished() == 1);
    // Nothing was written: the row is still running in the database.
    BOOST_TEST(recorded.db.query_int("SELECT count(*) FROM agent_executions WHERE outcome = "
                                     "'running'") == 2);
}

BOOST_AUTO_TEST_CASE(a_stream_and_the_database_of_the_same_runs_give_the_same_report)
{
    Recorded recorded;
    for (int i = 0; i < 12; ++i) {
        BatchRun batch;
        batch.mode = i % 3 == 0 ? "sequential" : "parallel";
        batch.spec = i % 2 ? "SPEC-KIT-1" : "SPEC-KIT-2";
        batch.batch_wall_us = 100000 + i * 7919 % 50000 + (i % 3 == 0 ? 200000 : 0);
        batch.spawn_wall_us = 800 + i;
        batch.agents = {
            AgentRun{.agent = "gemini", .spawn_latency_us = 400 + i * 13},
            AgentRun{.agent = "claude",
                     .outcome = i % 4 ? "success" : "exit",
                     .spawn_latency_us = 600 + i,
                     .run_time_ms = 90 + i,
                     .cpu_time_us = 1000 * i,
                     .max_rss_kb = 2000 + i},
            AgentRun{.agent = "code",
                     .outcome = i % 5 ? "success" : "spawn_failed",
                     .spawn_latency_us = i % 5 ? std::optional<std::int64_t>(700) : std::nullopt}};
        recorded.recorder.add(batch);
    }
    // An agent whose spawner died: lost in both.
    recorded.recorder.add(
        BatchRun{.agents = {AgentRun{
                     .outcome = "running", .run_time_ms = {}, .cpu_time_us = {}, .max_rss_kb = {}}},
                 .batch_wall_us = std::nullopt},
        test_support::gone_process());

    for (const auto& selection : {Selection{}, Selection{.spawns = 10, .batches = 4},
                                  Selection{.spec = "SPEC-KIT-1"}, Selection{.agent = "claude"}}) {
        const auto from_db = metrics_report::to_json(recorded.report(selection, true));
        const auto from_stream = metrics_report::to_json(recorded.stream_report(selection, true));
        for (const auto* part : {"overall", "agents", "batches", "compare"})
            BOOST_TEST(from_db[part] == from_stream[part], part << ":\n"
                                                                << from_db[part].dump() << "\n"
                                                                << from_stream[part].dump());
    }
    BOOST_TEST(recorded.report().overall.of(Outcome::lost) == 1);
}

BOOST_AUTO_TEST_CASE(compare_finds_a_clear_speedup_significant)
{
    Recorded recorded;
    add_batches(recorded.recorder, "parallel",
                {101000, 98000, 103000, 99000, 100000, 97000, 102000, 100500});
    add_batches(recorded.recorder, "sequential",
                {301000, 298000, 305000, 296000, 300000, 303000, 299000, 302000});
    const auto comparison = *recorded.report({}, true).comparison;
    BOOST_TEST(comparison.enough());
    BOOST_TEST(*comparison.speedup == 300500.0 / 100250.0);
    BOOST_TEST(comparison.interval->lower <= *comparison.speedup);
    BOOST_TEST(comparison.interval->upper >= *comparison.speedup);
    BOOST_TEST(comparison.test->p_value < 0.05);
    BOOST_TEST(comparison.message.find("the difference is significant") != std::string::npos,
               comparison.message);
}

BOOST_AUTO_TEST_CASE(compare_without_an_effect_is_not_significant)
{
    Recorded recorded;
    add_batches(recorded.recorder, "parallel",
                {100000, 104000, 98000, 101000, 103000, 99000, 102000, 97000});
    add_batches(recorded.recorder, "sequential",
                {101500, 98500, 103500, 99500, 100500, 102500, 97500, 104500});
    const auto comparison = *recorded.report({}, true).comparison;
    BOOST_TEST(comparison.test->p_value > 0.05);
    BOOST_TEST(comparison.message.find("not significant") != std::string::npos, comparison.message);
}

BOOST_AUTO_TEST_CASE(compare_with_too_few_batches_says_so_and_gives_no_numbers)
{
    Recorded recorded;
    add_batches(recorded.recorder, "parallel", {100000, 101000, 99000, 98000, 97000, 96000});
    add_batches(recorded.recorder, "sequential", {300000, 310000});
    const auto comparison = *recorded.report({}, true).comparison;
    BOOST_TEST(!comparison.enough());
    BOOST_TEST(!comparison.speedup.has_value());
    BOOST_TEST(!comparison.test.has_value());
    BOOST_TEST(comparison.message.find("too few batches") == 0u, comparison.message);
}

BOOST_AUTO_TEST_CASE(compare_is_reproducible)
{
    Recorded recorded;
    add_batches(recorded.recorder, "parallel", {101000, 98000, 103000, 99000, 100000, 97000});
    add_batches(recorded.recorder, "sequential", {301000, 298000, 255000, 296000, 330000, 303000});
    const auto first = *recorded.report({}, true).comparison;
    const auto second = *recorded.report({}, true).comparison;
    BOOST_TEST(first.interval->lower == second.interval->lower);
    BOOST_TEST(first.interval->upper == second.interval->upper);
}

BOOST_AUTO_TEST_CASE(filters_select_spec_stage_agent_and_time)
{
    Recorded recorded;
    recorded.recorder.add(BatchRun{.spec = "SPEC-KIT-1",
                                   .stage = "plan",
                                   .agents = {AgentRun{}, AgentRun{.agent = "claude"}},
                                   .started_at = "2026-11-20 08:00:00"});
    recorded.recorder.add(BatchRun{.spec = "SPEC-KIT-2",
                                   .stage = "audit",
                                   .agents = {AgentRun{}},
                                   .started_at = "2026-11-27 08:00:00"});
    BOOST_TEST(recorded.report(Selection{.spec = "SPEC-KIT-1"}).overall.count == 2);
    BOOST_TEST(recorded.report(Selection{.stage = "audit"}).overall.count == 1);
    BOOST_TEST(recorded.report(Selection{.agent = "claude"}).overall.count == 1);
    BOOST_TEST(recorded.report(Selection{.agent = "claude"}).batches.count == 1);
    const auto since = std::chrono::sys_days(std::chrono::year(2026) / 11 / 25);
    BOOST_TEST(recorded.report(Selection{.since = since}).overall.count == 1);
    BOOST_TEST(recorded.report(Selection{.since = since}).batches.count == 1);
    BOOST_TEST(recorded.stream_report(Selection{.since = since}).overall.count == 1);
}

BOOST_AUTO_TEST_CASE(a_database_without_the_toolkit_tables_has_zero_counts)
{
    test_support::TempDir dir;
    {
        auto create = common::Database::open(dir / "empty.db", {.mode = common::OpenMode::create});
    }
    const auto db = common::Database::open(dir / "empty.db", {.mode = common::OpenMode::read_only});
    metrics_report::ReportBuilder builder;
    metrics_report::read_database(db, {}, builder);
    Report report;
    builder.finish(report, true);
    BOOST_TEST(report.overall.count == 0);
    BOOST_TEST(report.batches.count == 0);
    BOOST_TEST(!metrics_report::to_json(report)["overall"]["success_rate"].is_number());
}

BOOST_AUTO_TEST_CASE(a_stream_agent_without_an_exit_event_is_lost)
{
    const auto report = stream_report_of(
        R"({"event":"spawned","batch_id":1,"spec_id":"SPEC-A-1","stage":"plan","agent":"gemini","agent_id":"a1","pid":5,"outcome":"running","spawn_latency_us":300,"time":"2026-11-27T10:15:00.250Z"})"
        "\n");
    BOOST_TEST(report.overall.of(Outcome::lost) == 1);
    BOOST_TEST(report.overall.spawn_latency_us.count == 1u);
}

BOOST_AUTO_TEST_CASE(a_malformed_stream_line_is_exit_65_naming_the_line)
{
    const std::string good =
        R"({"event":"spawned","batch_id":1,"spec_id":"SPEC-A-1","stage":"plan","agent":"gemini","agent_id":"a1","pid":5,"outcome":"running","spawn_latency_us":300,"time":"2026-11-27T10:15:00Z"})"
        "\n";
    BOOST_CHECK_EXCEPTION(stream_report_of(good + "\n{\"event\":\n"), common::Error,
                          [](const common::Error& e) {
                              return data_error_naming(e, "stdin line 3: malformed JSON");
                          });
    BOOST_CHECK_EXCEPTION(
        stream_report_of(
            good + R"({"event":"exited","agent_id":"a1","outcome":"success","run_time_ms":"slow"})"
                   "\n"),
        common::Error, [](const common::Error& e) {
            return data_error_naming(e, "stdin line 2: \"run_time_ms\": expected an integer");
        });
    BOOST_CHECK_EXCEPTION(
        stream_report_of("{\"no_event\":1}\n"), common::Error,
        [](const common::Error& e) { return data_error_naming(e, "stdin line 1: \"event\""); });
}

BOOST_AUTO_TEST_CASE(gates_break_exactly_when_the_numbers_pass_the_limits)
{
    Recorded recorded;
    // 20 spawns: 1..20 ms, p95 = 19 ms; 19 successes of 20.
    auto runs = test_support::agents_with_latencies("gemini", 20, 1000, 1000);
    runs.back().outcome = "exit";
    recorded.recorder.add(BatchRun{.agents = runs});
    const auto report = recorded.report();

    const auto broken = [&](metrics_report::Options options) {
        const auto gates = metrics_report::check_gates(report, options);
        BOOST_REQUIRE(gates.size() == 1u);
        return gates.front().broken;
    };
    BOOST_TEST(!broken({.max_p95_ms = 19.0}));
    BOOST_TEST(broken({.max_p95_ms = 18.999}));
    BOOST_TEST(!broken({.min_success_rate = 0.95}));
    BOOST_TEST(broken({.min_success_rate = 0.951}));
}

BOOST_AUTO_TEST_CASE(a_gate_with_too_few_samples_passes_unless_samples_are_required)
{
    Recorded recorded;
    recorded.recorder.add(
        BatchRun{.agents = test_support::agents_with_latencies("gemini", 19, 90000, 1)});
    const auto report = recorded.report();
    for (const auto& options : {metrics_report::Options{.max_p95_ms = 1.0},
                                metrics_report::Options{.min_success_rate = 1.0}}) {
        const auto lenient = metrics_report::check_gates(report, options);
        BOOST_TEST(!lenient.front().broken);
        BOOST_TEST(lenient.front().message.find("only 19") != std::string::npos,
                   lenient.front().message);
        auto strict_options = options;
        strict_options.require_samples = true;
        BOOST_TEST(metrics_report::check_gates(report, strict_options).front().broken);
    }
}

BOOST_AUTO_TEST_CASE(health_reads_the_last_maintenance_runs_and_evidence_bytes_per_spec)
{
    Recorded recorded;
    recorded.db.exec(
        "INSERT INTO maintenance_runs (tool, started_at, finished_at, outcome, summary) VALUES "
        "('db-vacuum', '2026-11-25 02:00:00', '2026-11-25 02:00:05', 'ok', '{}'), "
        "('db-vacuum', '2026-11-26 02:00:00', '2026-11-26 02:00:04', 'failed', '{}')");
    const auto root = recorded.dir / "evidence";
    std::filesystem::create_directories(root / "commands" / "SPEC-KIT-1");
    std::filesystem::create_directories(root / "consensus" / "SPEC-KIT-1" / "deep");
    std::filesystem::create_directories(root / "consensus" / "notes");
    test_support::write_file(root / "commands" / "SPEC-KIT-1" / "t.json", std::string(100, 'x'));
    test_support::write_file(root / "consensus" / "SPEC-KIT-1" / "deep" / "a.json",
                             std::string(50, 'x'));
    test_support::write_file(root / "consensus" / "notes" / "n.txt", std::string(1000, 'x'));
    // A link is not followed: its target's bytes are not the spec's.
    std::filesystem::create_symlink(root / "consensus" / "notes" / "n.txt",
                                    root / "consensus" / "SPEC-KIT-1" / "link.txt");

    const auto health = metrics_report::read_health(
        recorded.db, root, {.warn_spec = 120, .limit_spec = 140, .limit_total = 1000});
    BOOST_TEST(health.last_vacuum->finished_at == "2026-11-26 02:00:04");
    BOOST_TEST(health.last_vacuum->outcome == "failed");
    BOOST_TEST(!health.last_prune.has_value());
    BOOST_TEST(health.evidence_exists);
    BOOST_TEST(health.evidence_bytes.size() == 1u);
    BOOST_TEST(health.evidence_bytes.at("SPEC-KIT-1") == 150u);
    BOOST_TEST(health.evidence_total == 150u);

    Report report;
    report.health = health;
    const auto evidence = metrics_report::to_json(report)["health"]["evidence"];
    BOOST_TEST(evidence["specs"][0]["state"] == "over");
    BOOST_TEST(evidence["over_total_limit"] == false);
}

BOOST_AUTO_TEST_CASE(health_reads_an_evidence_root_that_is_itself_a_link)
{
    Recorded recorded;
    const auto real = recorded.dir / "real-evidence";
    std::filesystem::create_directories(real / "consensus" / "SPEC-KIT-1");
    test_support::write_file(real / "consensus" / "SPEC-KIT-1" / "a.json", std::string(30, 'x'));
    const auto root = recorded.dir / "evidence";
    std::filesystem::create_directory_symlink(real, root);

    const auto health = metrics_report::read_health(
        recorded.db, root, {.warn_spec = 120, .limit_spec = 140, .limit_total = 1000});
    BOOST_TEST(health.evidence_exists);
    BOOST_TEST(health.evidence_bytes.size() == 1u);
    BOOST_TEST(health.evidence_bytes.at("SPEC-KIT-1") == 30u);
    BOOST_TEST(health.evidence_total == 30u);
}

BOOST_AUTO_TEST_CASE(negative_or_implausible_stream_values_are_65_naming_the_line)
{
    const std::string spawned =
        R"({"event":"spawned","batch_id":1,"spec_id":"SPEC-A-1","stage":"plan","agent":"gemini","agent_id":"a1","pid":5,"outcome":"running","spawn_latency_us":LATENCY,"time":"2026-11-27T10:15:00Z"})"
        "\n";
    const auto with = [&](const std::string& latency) {
        auto text = spawned;
        return text.replace(text.find("LATENCY"), 7, latency);
    };
    BOOST_CHECK_EXCEPTION(stream_report_of("\n" + with("-1")), common::Error,
                          [](const common::Error& e) {
                              return data_error_naming(e, "stdin line 2: spawn_latency_us -1 is "
                                                          "negative");
                          });
    BOOST_CHECK_EXCEPTION(stream_report_of(with("9223372036854775807")), common::Error,
                          [](const common::Error& e) {
                              return data_error_naming(e, "stdin line 1: spawn_latency_us "
                                                          "9223372036854775807 is beyond");
                          });
    BOOST_CHECK_EXCEPTION(
        stream_report_of(
            with("5") +
            R"({"event":"exited","agent_id":"a1","outcome":"success","run_time_ms":-20})"
            "\n"),
        common::Error, [](const common::Error& e) {
            return data_error_naming(e, "stdin line 2: run_time_ms -20 is negative");
        });
}

BOOST_AUTO_TEST_CASE(negative_or_implausible_database_values_are_65_naming_the_row)
{
    Recorded recorded;
    recorded.recorder.add(BatchRun{.agents = {AgentRun{}, AgentRun{}}});
    recorded.db.exec("UPDATE spawn_metrics SET spawn_latency_us = -3 WHERE metric_id = 2");
    BOOST_CHECK_EXCEPTION(recorded.report(), common::Error, [](const common::Error& e) {
        return data_error_naming(e, "spawn_metrics row 2: spawn_latency_us -3 is negative");
    });
    recorded.db.exec("UPDATE spawn_metrics SET spawn_latency_us = 5;"
                     "UPDATE spawn_batches SET batch_wall_us = 9223372036854775807");
    BOOST_CHECK_EXCEPTION(recorded.report(), common::Error, [](const common::Error& e) {
        return data_error_naming(e, "spawn_batches row 1: batch_wall_us 9223372036854775807 is "
                                    "beyond");
    });
}

BOOST_AUTO_TEST_CASE(text_or_a_fraction_in_a_measurement_is_65_naming_the_row_of_its_table)
{
    // SQLite stores text in an INTEGER column as text; it was read as 0.
    Recorded recorded;
    recorded.recorder.add(BatchRun{.agents = {AgentRun{}, AgentRun{.agent = "claude"}}});
    recorded.db.exec("UPDATE spawn_metrics SET spawn_latency_us = 'abc' WHERE metric_id = 1");
    BOOST_CHECK_EXCEPTION(recorded.report(), common::Error, [](const common::Error& e) {
        return data_error_naming(e, "spawn_metrics row 1: spawn_latency_us 'abc' is not a whole "
                                    "number");
    });
    recorded.db.exec("UPDATE spawn_metrics SET spawn_latency_us = 5;"
                     "UPDATE agent_executions SET run_time_ms = 'n/a' WHERE agent_name = 'claude'");
    const auto claude_row =
        recorded.db.query_int("SELECT rowid FROM agent_executions WHERE agent_name = 'claude'");
    BOOST_CHECK_EXCEPTION(recorded.report(), common::Error, [&](const common::Error& e) {
        return data_error_naming(e, fmt::format("agent_executions row {}: run_time_ms 'n/a' is "
                                                "not a whole number",
                                                claude_row));
    });
    recorded.db.exec("UPDATE agent_executions SET run_time_ms = -1 WHERE agent_name = 'claude'");
    BOOST_CHECK_EXCEPTION(recorded.report(), common::Error, [&](const common::Error& e) {
        return data_error_naming(
            e, fmt::format("agent_executions row {}: run_time_ms -1 is negative", claude_row));
    });
    recorded.db.exec("UPDATE agent_executions SET run_time_ms = 7;"
                     "UPDATE spawn_batches SET batch_wall_us = 1.5");
    BOOST_CHECK_EXCEPTION(recorded.report(), common::Error, [](const common::Error& e) {
        return data_error_naming(e, "spawn_batches row 1: batch_wall_us '1.5' is not a whole "
                                    "number");
    });
}

BOOST_AUTO_TEST_CASE(a_recorded_time_not_in_sqlite_form_is_65_naming_the_row)
{
    // Times are compared as text: "garbage" sorted as the newest spawn, and a time written
    // "2026-11-01T08:00:00Z" passed --since 2026-11-01T09:00:00Z.
    for (const auto* time : {"garbage", "2026-11-01T08:00:00Z"}) {
        BOOST_TEST_CONTEXT(time)
        {
            Recorded recorded;
            recorded.recorder.add(BatchRun{.agents = {AgentRun{}, AgentRun{}}});
            recorded.db.exec(fmt::format(
                "UPDATE spawn_metrics SET recorded_at = '{}' WHERE metric_id = 2", time));
            BOOST_CHECK_EXCEPTION(recorded.report(), common::Error, [&](const common::Error& e) {
                return data_error_naming(
                    e,
                    fmt::format("spawn_metrics row 2: recorded_at '{}' is not a UTC time", time));
            });
        }
    }
}

BOOST_AUTO_TEST_CASE(in_one_second_agents_cancelled_after_the_spawns_are_the_newest_either_way)
{
    // A batch stopped by a signal: two agents started, two cancelled before they started, all
    // recorded in the same second. The database once took the cancelled ones for the oldest.
    Recorded recorded;
    recorded.recorder.add(BatchRun{.agents = {AgentRun{.agent = "s1"}, AgentRun{.agent = "s2"},
                                              AgentRun{.agent = "s3", .outcome = "cancelled"},
                                              AgentRun{.agent = "s4", .outcome = "cancelled"}}});
    const auto names = [](const Report& report) {
        std::vector<std::string> agents;
        for (const auto& [agent, stats] : report.agents)
            agents.push_back(agent);
        return agents;
    };
    for (std::int64_t window = 1; window <= 4; ++window) {
        BOOST_TEST_CONTEXT("window " << window)
        {
            const Selection selection{.spawns = window};
            BOOST_TEST(names(recorded.report(selection)) ==
                       names(recorded.stream_report(selection)));
        }
    }
    const auto newest_two = names(recorded.report(Selection{.spawns = 2}));
    BOOST_TEST((newest_two == std::vector<std::string>{"s3", "s4"}));
}

BOOST_AUTO_TEST_CASE(the_largest_plausible_values_are_summed_without_overflow)
{
    Recorded recorded;
    BatchRun batch;
    for (int i = 0; i < 3; ++i)
        batch.agents.push_back(AgentRun{.run_time_ms = 366LL * 24 * 3600 * 1000,
                                        .cpu_time_us = 366LL * 24 * 3600 * 1000000});
    recorded.recorder.add(batch);
    const auto report = recorded.report();
    BOOST_TEST(*report.overall.run_time_ms.mean == 366.0 * 24 * 3600 * 1000);
    BOOST_TEST(*report.overall.cpu_time_us.mean() == 366.0 * 24 * 3600 * 1000000);
    metrics_report::Accumulator huge;
    huge.add(std::numeric_limits<std::int64_t>::max());
    huge.add(std::numeric_limits<std::int64_t>::max());
    BOOST_TEST(*huge.mean() > 9e18);
}

BOOST_AUTO_TEST_CASE(the_window_is_the_newest_by_recorded_time_then_id)
{
    Recorded recorded;
    // Recorded in this order, but the second batch happened first.
    recorded.recorder.add(BatchRun{.agents = test_support::agents_with_latencies("new", 2, 100, 1),
                                   .started_at = "2026-11-27 12:00:00"});
    recorded.recorder.add(BatchRun{.agents = test_support::agents_with_latencies("old", 3, 900, 1),
                                   .started_at = "2026-11-27 08:00:00"});
    Selection selection;
    selection.spawns = 3;
    selection.batches = 1;
    const auto report = recorded.report(selection);
    BOOST_TEST(report.agents.at("new").count == 2);
    BOOST_TEST(report.agents.at("old").count == 1);
    BOOST_TEST(*report.agents.at("old").spawn_latency_us.min == 902);  // the later id of a tie
    BOOST_TEST(report.batches.count == 1);
    BOOST_TEST(report.batches.agents.min == 2);
    BOOST_TEST(recorded.stream_report(selection).agents.at("old").count == 1);
}

BOOST_AUTO_TEST_CASE(agents_cancelled_before_they_started_are_counted_as_cancelled)
{
    Recorded recorded;
    const auto batch = recorded.recorder.add(BatchRun{.agents = {AgentRun{}}});
    // What spawn-agents records for an agent a signal stopped before it was started: an
    // agent_executions row and no spawn_metrics row.
    recorded.db.exec(fmt::format(
        "INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, agent_name, "
        "spawned_at, batch_id, outcome) VALUES ('c1', 'SPEC-KIT-933', 'validate', "
        "'regular_stage', 'gemini', '2026-11-27 10:15:00', {}, 'cancelled')",
        batch));
    const auto report = recorded.report();
    BOOST_TEST(report.overall.count == 2);
    BOOST_TEST(report.overall.of(Outcome::cancelled) == 1);
    BOOST_TEST(*report.overall.success_rate() == 0.5);

    const auto stream = stream_report_of(
        R"({"event":"exited","batch_id":1,"agent":"gemini","agent_id":"c1","outcome":"cancelled","exit_code":null,"signal":null,"run_time_ms":0,"cpu_time_us":0,"max_rss_kb":0,"evidence":null,"time":"2026-11-27T10:15:00Z"})"
        "\n");
    BOOST_TEST(stream.overall.count == 1);
    BOOST_TEST(stream.overall.of(Outcome::cancelled) == 1);
}
