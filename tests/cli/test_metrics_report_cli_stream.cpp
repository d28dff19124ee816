#define BOOST_TEST_MODULE test_cli_metrics_report_stream
#include <boost/test/unit_test.hpp>

#include "metrics_report_cli.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

using namespace metrics_report_cli;

namespace {

constexpr int agents_per_batch = 10;  // nine spawned, one cancelled before it started
constexpr int late_by = 30;           // batches after which a long runner's exit comes

std::string time_of(int batch)
{
    return fmt::format("2026-11-27T{:02}:{:02}:{:02}Z", batch / 3600, batch / 60 % 60, batch % 60);
}

// The events of `batches` batches as spawn-agents prints them, each with the batch it belongs
// to. Every 7th batch has a long runner cancelled `late_by` batches later, so that its exit
// comes long after its spawn has left a small window.
std::vector<std::pair<int, std::string>> stream_events(int batches)
{
    std::vector<std::pair<int, std::string>> events;
    std::map<int, std::vector<std::pair<int, std::string>>> late;
    for (int b = 0; b < batches; ++b) {
        for (auto& event : late[b])
            events.push_back(std::move(event));
        int successes = 0;
        for (int a = 0; a < agents_per_batch; ++a) {
            const int i = b * agents_per_batch + a;
            const auto agent = a % 2 ? "claude" : "gemini";
            const auto id = fmt::format("agent-{}", i);
            const auto exit = [&](std::string_view outcome) {
                return fmt::format(R"({{"event":"exited","batch_id":{},"agent":"{}",)"
                                   R"("agent_id":"{}","outcome":"{}","run_time_ms":{},)"
                                   R"("cpu_time_us":{},"max_rss_kb":{},"time":"{}"}})"
                                   "\n",
                                   b + 1, agent, id, outcome, 100 + i % 5000, i % 7000,
                                   2000 + i % 300, time_of(b));
            };
            if (a == agents_per_batch - 1) {
                events.emplace_back(b, exit("cancelled"));
                continue;
            }
            events.emplace_back(
                b, fmt::format(R"({{"event":"spawned","batch_id":{},"spec_id":"SPEC-{}",)"
                               R"("stage":"validate","agent":"{}","agent_id":"{}",)"
                               R"("outcome":"running","spawn_latency_us":{},"time":"{}"}})"
                               "\n",
                               b + 1, b % 3, agent, id, 1000 + (i * 7919) % 100000, time_of(b)));
            if (a == 0 && b % 7 == 0) {
                late[b + late_by].emplace_back(b, exit("cancelled"));
                continue;
            }
            const bool success = i % 13 != 0;
            successes += success;
            events.emplace_back(b, exit(success ? "success" : "exit"));
        }
        events.emplace_back(
            b, fmt::format(R"({{"event":"batch","batch_id":{},"spec_id":"SPEC-{}",)"
                           R"("stage":"validate","mode":"{}","agents":{},"successes":{},)"
                           R"("spawn_wall_us":{},"batch_wall_us":{},"started_at":"{}"}})"
                           "\n",
                           b + 1, b % 3, b % 2 ? "sequential" : "parallel", agents_per_batch,
                           successes, 900 + b % 50, 100000 + (b * 31) % 90000, time_of(b)));
    }
    return events;
}

// Writes the events of batches `first` on to `path`.
void write_events(const fs::path& path, const std::vector<std::pair<int, std::string>>& events,
                  int first)
{
    std::ofstream out(path);
    for (const auto& [batch, line] : events)
        if (batch >= first) out << line;
    BOOST_REQUIRE(out.flush());
}

struct Measured {
    json report;
    long peak_rss_kb = 0;
};

// metrics-report over `events` (a file) and its peak resident set, by time(1).
Measured measure(const Sandbox& sandbox, const fs::path& events,
                 const std::vector<std::string>& args)
{
    const auto rss = sandbox.dir / "rss";
    std::vector<std::string> argv{
        "/usr/bin/time", "-f",    "%M", "-o", rss.string(), METRICS_REPORT_BIN, "--from",
        events.string(), "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto result = test_support::run_process(argv, {}, sandbox.environment());
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    std::ifstream in(rss);
    Measured measured{parse_report(result)};
    BOOST_REQUIRE(in >> measured.peak_rss_kb);
    return measured;
}

boost::test_tools::assertion_result time_installed(boost::unit_test::test_unit_id)
{
    boost::test_tools::assertion_result result(fs::exists("/usr/bin/time"));
    result.message() << "/usr/bin/time is not installed (Debian package time): skipped";
    return result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_long_stream_with_a_small_window_holds_only_the_window,
                     *boost::unit_test::precondition(time_installed))
{
    const Sandbox sandbox;
    constexpr int batches = 200000 / agents_per_batch;
    // Enough of the newest batches to hold the window whatever the filter picks.
    constexpr int tail_batches = 60;
    const auto events = stream_events(batches);
    write_events(sandbox.dir / "all.jsonl", events, 0);
    write_events(sandbox.dir / "last.jsonl", events, batches - tail_batches);

    for (const auto& filter :
         std::vector<std::vector<std::string>>{{}, {"--spec", "SPEC-1"}, {"--agent", "claude"}}) {
        BOOST_TEST_CONTEXT("filter: " << (filter.empty() ? "none" : filter[1]))
        {
            std::vector<std::string> args{"--window", "100", "--batch-window", "10", "--compare"};
            args.insert(args.end(), filter.begin(), filter.end());
            const auto whole = measure(sandbox, sandbox.dir / "all.jsonl", args);
            const auto last = measure(sandbox, sandbox.dir / "last.jsonl", args);
            for (const auto* part : {"overall", "agents", "batches", "compare"})
                BOOST_TEST(whole.report[part] == last.report[part],
                           part << ":\n"
                                << whole.report[part].dump() << "\n"
                                << last.report[part].dump());
            BOOST_TEST(whole.report["overall"]["count"] == 100);
            BOOST_TEST(whole.report["batches"]["count"] == 10);
            BOOST_TEST_MESSAGE("peak RSS " << whole.peak_rss_kb << " KiB, of the newest "
                                           << tail_batches << " batches " << last.peak_rss_kb
                                           << " KiB");
            // The whole stream is some 60 MB: held in memory it would be tens of MiB.
            BOOST_TEST(whole.peak_rss_kb < last.peak_rss_kb + 8 * 1024,
                       whole.peak_rss_kb << " KiB against " << last.peak_rss_kb << " KiB");
        }
    }
}
