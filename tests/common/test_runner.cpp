#define BOOST_TEST_MODULE common_runner
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/runner.hpp"

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
