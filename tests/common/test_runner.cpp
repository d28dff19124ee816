#define BOOST_TEST_MODULE common_runner
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/log.hpp"
#include "common/runner.hpp"
#include "support/temp_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <tuple>

namespace {

int run_with(const std::function<int(std::span<char*>)>& body)
{
    char name[] = "tool";
    char* argv[] = {name, nullptr};
    return common::run_tool("tool", 1, argv, body);
}

}  // namespace

BOOST_AUTO_TEST_CASE(body_exit_code_is_returned)
{
    BOOST_TEST(run_with([](std::span<char*>) { return 1; }) == 1);
}

BOOST_AUTO_TEST_CASE(project_error_returns_its_code)
{
    BOOST_TEST(run_with([](std::span<char*>) -> int {
                   throw common::Error(common::Exit::temp_fail, "locked");
               }) == 75);
}

BOOST_AUTO_TEST_CASE(unexpected_exception_is_internal_error_70)
{
    BOOST_TEST(run_with([](std::span<char*>) -> int { throw std::logic_error("bug"); }) == 70);
}

BOOST_AUTO_TEST_CASE(arguments_reach_the_body)
{
    BOOST_TEST(run_with([](std::span<char*> args) {
                   return args.size() == 1 && std::string(args[0]) == "tool" ? 0 : 9;
               }) == 0);
}

BOOST_AUTO_TEST_CASE(an_error_is_reported_on_one_line)
{
    // A failed migration's statement comes with its layout; stderr gets one line.
    test_support::TempDir dir;
    const int file = ::open((dir / "err").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    BOOST_REQUIRE(file >= 0);
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(file, STDERR_FILENO);
    const int code = run_with([](std::span<char*>) -> int {
        throw common::Error(common::Exit::software,
                            "t.db: no such table: x (in: CREATE INDEX i\n    ON x (a)\r\n)");
    });
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(file);
    BOOST_TEST(code == 70);
    BOOST_TEST(test_support::file_bytes(dir / "err") ==
               "tool: error: t.db: no such table: x (in: CREATE INDEX i ON x (a) )\n");
}

namespace {

struct FakeOptions {
    common::SharedOptions shared;
    int value = 0;
};

// Runs the whole-main run_tool() with options `parsed`; returns its code, what it printed on
// stdout and the value run() saw (-1 when run() was not called).
std::tuple<int, std::string, int> run_main(const FakeOptions& parsed)
{
    std::ostringstream captured;
    auto* saved = std::cout.rdbuf(captured.rdbuf());
    int seen = -1;
    char name[] = "tool";
    char* argv[] = {name, nullptr};
    const int code = common::run_tool(
        "tool", 1, argv, [&](std::span<char*>) { return parsed; },
        [] { return std::string("usage: tool\n"); },
        [&](const FakeOptions& options) {
            seen = options.value;
            return 3;
        });
    std::cout.rdbuf(saved);
    return {code, captured.str(), seen};
}

}  // namespace

BOOST_AUTO_TEST_CASE(help_is_printed_and_nothing_runs)
{
    FakeOptions options;
    options.shared.help = true;
    const auto [code, out, seen] = run_main(options);
    BOOST_TEST(code == 0);
    BOOST_TEST(out == "usage: tool\n");
    BOOST_TEST(seen == -1);
}

BOOST_AUTO_TEST_CASE(version_is_printed_and_nothing_runs)
{
    FakeOptions options;
    options.shared.version = true;
    const auto [code, out, seen] = run_main(options);
    BOOST_TEST(code == 0);
    BOOST_TEST(out == common::version_line("tool") + "\n");
    BOOST_TEST(seen == -1);
}

BOOST_AUTO_TEST_CASE(without_help_or_version_the_options_reach_run)
{
    FakeOptions options;
    options.value = 42;
    const auto [code, out, seen] = run_main(options);
    BOOST_TEST(code == 3);
    BOOST_TEST(out.empty());
    BOOST_TEST(seen == 42);
}

BOOST_AUTO_TEST_CASE(one_line_folds_breaks_and_control_characters)
{
    BOOST_TEST(common::one_line("a\n  b\t\x01"
                                "c\n\n") == "a b  c");
    BOOST_TEST(common::one_line("plain") == "plain");
    // C1 controls too (CSI is U+009B); other UTF-8 stays.
    BOOST_TEST(common::one_line("a\u009b2Jb \u00e9\u00a0c") == "a 2Jb \u00e9\u00a0c");
}

BOOST_AUTO_TEST_CASE(log_lines_show_control_characters_as_escapes)
{
    std::ostringstream err;
    const common::Log log("tool", err, common::SharedOptions{.verbose = true});
    log.note("/tmp/a\x1b]0;title\x07.db: \u009b2J");
    log.step("b\nc");
    BOOST_TEST(err.str() == "tool: /tmp/a\\x1b]0;title\\x07.db: \\u009b2J\ntool: b\\nc\n");
}
