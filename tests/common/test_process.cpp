#define BOOST_TEST_MODULE common_process
#include <boost/test/unit_test.hpp>

#include "common/process.hpp"
#include "common/process_tree.hpp"
#include "common/runs.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

using common::Ending;
using common::FinishedChild;
using common::ProcessSet;
using namespace std::chrono_literals;

BOOST_TEST_DONT_PRINT_LOG_VALUE(common::Ending)

namespace {

// Waits until every child of `children` has ended and returns them.
std::vector<FinishedChild> finish_all(ProcessSet& children)
{
    std::vector<FinishedChild> done;
    while (children.running() > 0)
        for (auto& child : children.wait(std::nullopt).finished)
            done.push_back(std::move(child));
    return done;
}

FinishedChild run_one(const common::Command& command,
                      std::chrono::milliseconds grace = std::chrono::seconds(5))
{
    ProcessSet children(grace);
    const auto started = children.start(command);
    BOOST_TEST_REQUIRE(started.ok(), started.message);
    auto done = finish_all(children);
    BOOST_TEST_REQUIRE(done.size() == 1u);
    return std::move(done.front());
}

// The value of a "Name:\tvalue" line of /proc/<pid>/status as a child printed it.
std::string status_field(const std::string& status, const std::string& name)
{
    std::istringstream lines(status);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(name + ":", 0) == 0)
            return line.substr(line.find_first_not_of(" \t", name.size() + 1));
    return {};
}

// Gives an ended process's parent a moment to reap it; returns whether it is still alive
// after that.
bool still_alive_after_reaping(pid_t pid)
{
    for (int i = 0; i < 200 && test_support::alive(pid); ++i)
        std::this_thread::sleep_for(10ms);
    return test_support::alive(pid);
}

}  // namespace

BOOST_AUTO_TEST_CASE(exit_code_and_output_are_reported)
{
    const auto child = run_one({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});

    BOOST_TEST(child.ending == Ending::exited);
    BOOST_TEST(child.exit_code.value_or(-1) == 3);
    BOOST_TEST(!child.signal.has_value());
    BOOST_TEST(child.out == "out\n");
    BOOST_TEST(child.err == "err\n");
}

BOOST_AUTO_TEST_CASE(a_wait_of_zero_reaps_a_child_that_has_ended)
{
    ProcessSet children;
    const auto started = children.start({.argv = {"sh", "-c", "echo done"}});
    BOOST_TEST_REQUIRE(started.ok(), started.message);
    // Never blocks: asked again until the child has ended, for at most 5 s.
    std::vector<FinishedChild> done;
    for (int i = 0; i < 500 && done.empty(); ++i) {
        done = children.wait(0ms).finished;
        if (done.empty()) std::this_thread::sleep_for(10ms);
    }

    BOOST_TEST_REQUIRE(done.size() == 1u);
    BOOST_TEST(done.front().exit_code.value_or(-1) == 0);
    BOOST_TEST(done.front().out == "done\n");
    BOOST_TEST(children.running() == 0u);
}

namespace {

boost::test_tools::assertion_result finite_descriptor_limit(boost::unit_test::test_unit_id)
{
    rlimit limit{};
    const bool finite = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
                        limit.rlim_max != RLIM_INFINITY && limit.rlim_max >= 400;
    boost::test_tools::assertion_result result(finite);
    result.message() << "no finite hard limit on open files above 400: nothing to divide";
    return result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_descriptor_limit_is_raised_as_far_as_the_children_need,
                     *boost::unit_test::label("needs_finite_fd_limit") *
                         boost::unit_test::precondition(finite_descriptor_limit))
{
    rlimit original{};
    BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
    rlimit lowered = original;
    lowered.rlim_cur = 100;
    BOOST_TEST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    rlimit now{};

    // 50 children: 4 descriptors each, 64 kept back and 5 for a start in progress.
    const auto fifty = common::make_room_for_children(50, 64);
    BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &now) == 0);
    const auto raised_for_fifty = now.rlim_cur;
    // More than the hard limit allows: as many as fit under it.
    const auto all = common::make_room_for_children(1'000'000'000, 64);
    BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &now) == 0);
    ::setrlimit(RLIMIT_NOFILE, &original);

    BOOST_TEST(fifty == 50u);
    BOOST_TEST(raised_for_fifty == 269u);
    BOOST_TEST(now.rlim_cur == original.rlim_max);
    BOOST_TEST(all == static_cast<std::size_t>((original.rlim_max - 69) / 4));
}

BOOST_AUTO_TEST_CASE(a_missing_command_is_a_spawn_failure_not_a_child)
{
    ProcessSet children;
    const auto started = children.start({.argv = {"/nonexistent/agent-binary"}});

    BOOST_TEST(!started.ok());
    BOOST_TEST(started.error == ENOENT);
    BOOST_TEST(started.message.find("/nonexistent/agent-binary") != std::string::npos);
    BOOST_TEST(children.running() == 0u);
}

BOOST_AUTO_TEST_CASE(a_missing_working_folder_is_a_spawn_failure)
{
    ProcessSet children;
    const auto started = children.start({.argv = {"true"}, .cwd = "/nonexistent/folder"});

    BOOST_TEST(!started.ok());
    BOOST_TEST(started.message.find("/nonexistent/folder") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_started_child_has_a_spawn_latency)
{
    ProcessSet children;
    const auto started = children.start({.argv = {"true"}});
    BOOST_TEST_REQUIRE(started.ok());
    BOOST_TEST(started.latency_us > 0);
    BOOST_TEST(started.pid > 0);
    finish_all(children);
}

BOOST_AUTO_TEST_CASE(a_started_childs_start_ticks_are_those_of_proc)
{
    // Enough starts that some cross a tick boundary (read from /proc) and most do not (taken
    // from the clock around the spawn): each must equal what /proc says while it runs.
    ProcessSet children;
    for (int i = 0; i < 300; ++i) {
        const auto started = children.start({.argv = {"sleep", "5"}});
        BOOST_TEST_REQUIRE(started.ok());
        const auto stat = common::read_process_stat(started.pid);
        BOOST_TEST_REQUIRE(stat.has_value());
        BOOST_TEST_REQUIRE(started.start_ticks.has_value());
        BOOST_TEST(*started.start_ticks == stat->start_ticks, "pid " << started.pid);
        children.cancel_all(SIGKILL);
        finish_all(children);
    }
}

BOOST_AUTO_TEST_CASE(the_child_leads_a_process_group_of_its_own)
{
    const auto child = run_one({.argv = {"cat", "/proc/self/stat"}});

    // Fields: pid (comm) state ppid pgrp ...
    std::istringstream fields(child.out.substr(child.out.rfind(')') + 2));
    std::string state, ppid, pgrp;
    fields >> state >> ppid >> pgrp;
    BOOST_TEST(pgrp == std::to_string(child.pid));
}

BOOST_AUTO_TEST_CASE(the_child_sees_default_signal_dispositions_and_an_empty_mask)
{
    // This process ignores SIGPIPE (every ProcessSet does) and blocks SIGINT and SIGTERM.
    common::SignalWatch signals;
    const auto child = run_one({.argv = {"cat", "/proc/self/status"}});

    // Bit n-1 stands for signal n. glibc's posix_spawn keeps its two internal real-time
    // signals (32 and 33) ignored; every standard signal must be at its default.
    const auto standard_signals = [&](const std::string& field) {
        return std::stoull(status_field(child.out, field), nullptr, 16) & 0x7fffffffull;
    };
    BOOST_TEST(standard_signals("SigIgn") == 0u);
    BOOST_TEST(standard_signals("SigBlk") == 0u);
    BOOST_TEST((std::stoull(status_field(child.out, "SigIgn"), nullptr, 16) &
                (1ull << (SIGPIPE - 1))) == 0u);
}

BOOST_AUTO_TEST_CASE(the_environment_and_folder_are_the_commands)
{
    test_support::TempDir dir;
    const auto child = run_one({.argv = {"sh", "-c", "echo \"$SH_TEST_VALUE\"; pwd -P"},
                                .environment = common::environment_with({{"SH_TEST_VALUE", "v1"}}),
                                .cwd = dir.path()});

    BOOST_TEST(child.out == "v1\n" + std::filesystem::canonical(dir.path()).string() + "\n");
}

BOOST_AUTO_TEST_CASE(a_child_of_this_process_environment_gets_it_whole_with_one_supervisor_entry)
{
    ::setenv("SPEC_HYGIENE_SUPERVISOR", "forged", 1);
    ::setenv("SPEC_HYGIENE_TEST_KEPT", "kept value", 1);
    const auto child = run_one({.argv = {"sh", "-c", "env | grep ^SPEC_HYGIENE_ | sort"}});
    ::unsetenv("SPEC_HYGIENE_SUPERVISOR");
    ::unsetenv("SPEC_HYGIENE_TEST_KEPT");

    const auto prefix = "SPEC_HYGIENE_SUPERVISOR=" + std::to_string(::getpid()) + ":";
    BOOST_TEST(child.out.starts_with(prefix), child.out);
    BOOST_TEST(child.out.ends_with("\nSPEC_HYGIENE_TEST_KEPT=kept value\n"), child.out);
    BOOST_TEST(child.out.find("forged") == std::string::npos, child.out);
}

BOOST_AUTO_TEST_CASE(
    each_child_carries_a_supervisor_entry_of_its_own_that_replaces_an_inherited_one)
{
    ProcessSet children;
    std::vector<pid_t> pids;
    for (int i = 0; i < 2; ++i) {
        const auto started = children.start(
            {.argv = {"sleep", "30"},
             .environment = common::environment_with({{"SPEC_HYGIENE_SUPERVISOR", "forged"}})});
        BOOST_TEST_REQUIRE(started.ok(), started.message);
        pids.push_back(started.pid);
    }
    const auto found = common::descendants_with(::getpid(), "SPEC_HYGIENE_SUPERVISOR");
    children.cancel_all(SIGKILL);
    finish_all(children);

    std::vector<std::string> values;
    for (const auto& [process, value] : found)
        if (process.pid == pids[0] || process.pid == pids[1]) values.push_back(value);
    BOOST_TEST_REQUIRE(values.size() == 2u);
    BOOST_TEST(values[0] != values[1]);
    for (const auto& value : values)
        BOOST_TEST(value.starts_with(std::to_string(::getpid()) + ":"), value);
}

BOOST_AUTO_TEST_CASE(the_input_reaches_stdin)
{
    const auto child = run_one({.argv = {"cat"}, .input = std::string("prompt text")});

    BOOST_TEST(child.out == "prompt text");
    BOOST_TEST(child.input_complete);
}

BOOST_AUTO_TEST_CASE(without_input_stdin_is_empty)
{
    const auto child = run_one({.argv = {"cat"}});

    BOOST_TEST(child.out.empty());
    BOOST_TEST(child.exit_code.value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(a_child_that_never_reads_its_input_does_not_block)
{
    const auto child = run_one({.argv = {"true"}, .input = std::string(5 << 20, 'p')});

    BOOST_TEST(child.exit_code.value_or(-1) == 0);
    BOOST_TEST(!child.input_complete);
}

BOOST_AUTO_TEST_CASE(large_output_on_both_streams_is_drained_completely)
{
    const auto child = run_one(
        {.argv = {"sh", "-c", "head -c 10485760 /dev/zero; head -c 10485760 /dev/zero >&2"}});

    BOOST_TEST(child.exit_code.value_or(-1) == 0);
    BOOST_TEST(child.out.size() == 10485760u);
    BOOST_TEST(child.err.size() == 10485760u);
}

BOOST_AUTO_TEST_CASE(stderr_goes_to_the_sink_in_order_a_bounded_chunk_at_a_time)
{
    // 3 MiB of numbered lines: any chunk lost, repeated or reordered changes the text.
    std::string received;
    std::size_t calls = 0;
    std::size_t largest = 0;
    const auto child = run_one({.argv = {"sh", "-c", "seq 1 400000 >&2; echo out"},
                                .stderr_sink = [&](std::string_view chunk) {
                                    received.append(chunk);
                                    ++calls;
                                    largest = std::max(largest, chunk.size());
                                }});

    std::string expected;
    for (int i = 1; i <= 400000; ++i)
        expected += std::to_string(i) + "\n";
    BOOST_TEST(child.exit_code.value_or(-1) == 0);
    BOOST_TEST(received.size() == expected.size());
    BOOST_TEST((received == expected));
    BOOST_TEST(calls > 1u);
    BOOST_TEST(largest <= 65536u);
    // Handed over, not also kept.
    BOOST_TEST(child.err.empty());
    BOOST_TEST(child.out == "out\n");
}

BOOST_AUTO_TEST_CASE(a_child_that_writes_no_stderr_never_calls_the_sink)
{
    int calls = 0;
    const auto child =
        run_one({.argv = {"true"}, .stderr_sink = [&](std::string_view) { ++calls; }});

    BOOST_TEST(child.exit_code.value_or(-1) == 0);
    BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(what_descendants_write_after_the_child_ended_neither_blocks_nor_kills_them)
{
    // The child leaves a shell that writes 200 KB to both pipes (more than they hold) once the
    // child has ended, with its own echo: a SIGPIPE would end it. The other child ends when
    // that shell got past its writes, or times out.
    test_support::TempDir dir;
    const auto wrote = dir.path() / "wrote";
    ProcessSet children;
    std::string received;
    const auto leaver = children.start(
        {.argv = {"sh", "-c",
                  "(sleep 0.2; i=0; while [ $i -lt 20000 ]; do echo line $i >&2; echo line $i; "
                  "i=$((i + 1)); done; touch \"$1\") & echo early >&2",
                  "sh", wrote.string()},
         .stderr_sink = [&](std::string_view chunk) { received.append(chunk); }});
    const auto waiter = children.start(
        {.argv = {"sh", "-c", "while [ ! -e \"$1\" ]; do sleep 0.05; done", "sh", wrote.string()},
         .timeout = 20s});
    BOOST_TEST_REQUIRE(leaver.ok());
    BOOST_TEST_REQUIRE(waiter.ok());

    const auto done = finish_all(children);
    BOOST_TEST_REQUIRE(done.size() == 2u);
    for (const auto& child : done)
        BOOST_TEST(child.exit_code.value_or(-1) == 0);
    BOOST_TEST(std::filesystem::exists(wrote));
    // Only what the child itself wrote before it ended reaches the sink.
    BOOST_TEST(received == "early\n");
}

BOOST_AUTO_TEST_CASE(a_timeout_kills_the_whole_group)
{
    const auto child =
        run_one({.argv = {"sh", "-c", "sleep 60 & echo $!; wait"}, .timeout = 200ms});

    BOOST_TEST(child.ending == Ending::timed_out);
    BOOST_TEST(child.signal.value_or(0) == SIGTERM);
    const pid_t grandchild = std::stoi(child.out);
    BOOST_TEST(!still_alive_after_reaping(grandchild));
}

BOOST_AUTO_TEST_CASE(a_timeout_kills_a_grandchild_that_left_for_a_session_of_its_own)
{
    const auto child =
        run_one({.argv = {"sh", "-c", "setsid sleep 60 & echo $!; wait"}, .timeout = 200ms});

    BOOST_TEST(child.ending == Ending::timed_out);
    const pid_t grandchild = std::stoi(child.out);
    BOOST_TEST(!still_alive_after_reaping(grandchild));
}

BOOST_AUTO_TEST_CASE(end_descendants_kills_and_reaps_an_orphan_that_came_back_as_a_child)
{
    BOOST_TEST_REQUIRE(common::become_subreaper());
    const auto child = run_one({.argv = {"sh", "-c", "(setsid sleep 60 & echo $!)"}});
    const pid_t orphan = std::stoi(child.out);
    BOOST_TEST_REQUIRE(test_support::alive(orphan));

    BOOST_TEST(common::end_descendants() >= 1u);

    BOOST_TEST(!test_support::alive(orphan));
    BOOST_TEST(::kill(orphan, 0) != 0);  // reaped, not left a zombie
}

BOOST_AUTO_TEST_CASE(a_child_ignoring_sigterm_is_killed_after_the_grace)
{
    const auto child =
        run_one({.argv = {"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"},
                 .timeout = 100ms},
                200ms);

    BOOST_TEST(child.ending == Ending::timed_out);
    BOOST_TEST(child.signal.value_or(0) == SIGKILL);
}

BOOST_AUTO_TEST_CASE(cancel_all_signals_every_child_and_marks_it_cancelled)
{
    ProcessSet children;
    BOOST_TEST_REQUIRE(children.start({.argv = {"sleep", "60"}}).ok());
    BOOST_TEST_REQUIRE(children.start({.argv = {"sleep", "60"}}).ok());

    children.cancel_all(SIGTERM);
    const auto done = finish_all(children);

    BOOST_TEST_REQUIRE(done.size() == 2u);
    for (const auto& child : done) {
        BOOST_TEST(child.ending == Ending::cancelled);
        BOOST_TEST(child.signal.value_or(0) == SIGTERM);
    }
}

BOOST_AUTO_TEST_CASE(a_signal_to_this_process_is_reported_by_wait)
{
    common::SignalWatch signals;
    ProcessSet children;
    BOOST_TEST_REQUIRE(children.start({.argv = {"sleep", "60"}}).ok());

    ::kill(::getpid(), SIGTERM);
    const auto result = children.wait(std::nullopt, &signals);

    BOOST_TEST(result.signal.value_or(0) == SIGTERM);
    BOOST_TEST(result.finished.empty());
}

BOOST_AUTO_TEST_CASE(resource_usage_is_reported)
{
    const auto child =
        run_one({.argv = {"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}});

    BOOST_TEST(child.cpu_time_us > 0);
    BOOST_TEST(child.max_rss_kb > 0);
    BOOST_TEST(child.run_time_us > 0);
}

BOOST_AUTO_TEST_CASE(a_grandchild_that_keeps_writing_does_not_hold_the_child_open)
{
    // yes outlives the shell on the same stdout; it ends with SIGPIPE once the pipe is closed.
    const auto child = run_one({.argv = {"sh", "-c", "yes & echo leader-done"}});

    BOOST_TEST(child.exit_code.value_or(-1) == 0);
    BOOST_TEST(child.out.find("leader-done") != std::string::npos);
}
