#define BOOST_TEST_MODULE common_signal_flag
#include <boost/test/unit_test.hpp>

#include "common/signal_flag.hpp"

#include <chrono>
#include <csignal>
#include <thread>
#include <unistd.h>

BOOST_AUTO_TEST_CASE(the_flag_is_raised_by_its_own_thread_without_being_asked)
{
    common::SignalFlag flag;
    BOOST_TEST(!flag.raised());
    BOOST_REQUIRE(::kill(::getpid(), SIGINT) == 0);
    // Nobody reads the signal here: only the flag's thread can raise the flag.
    while (!flag.raised())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    BOOST_TEST(flag.signal().value_or(0) == SIGINT);
}

BOOST_AUTO_TEST_CASE(a_signal_sent_before_the_call_is_seen_by_it)
{
    common::SignalFlag flag;
    BOOST_TEST(!flag.signal().has_value());
    BOOST_REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    BOOST_TEST(flag.signal().value_or(0) == SIGTERM);
    BOOST_TEST(flag.raised());
}

BOOST_AUTO_TEST_CASE(the_first_signal_is_the_one_kept)
{
    common::SignalFlag flag;
    BOOST_REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    BOOST_TEST(flag.signal().value_or(0) == SIGTERM);
    BOOST_REQUIRE(::kill(::getpid(), SIGINT) == 0);
    BOOST_TEST(flag.signal().value_or(0) == SIGTERM);
    // Read the second one, so that it is not delivered once the flag is gone.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    int received = 0;
    BOOST_REQUIRE(::sigwait(&set, &received) == 0);
}
