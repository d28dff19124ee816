#define BOOST_TEST_MODULE common_stop_signal
#include <boost/test/unit_test.hpp>

#include "common/stop_signal.hpp"

#include <chrono>
#include <csignal>
#include <thread>
#include <unistd.h>

namespace {

// Waits (up to ~20 s) until `stop` is set; returns whether it was.
bool becomes_set(const std::atomic<bool>& stop)
{
    for (int i = 0; i < 2000 && !stop.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return stop.load();
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigterm_sets_the_flag_and_is_named_without_ending_the_process)
{
    common::StopSignal signals;
    BOOST_TEST(!signals.flag().load());
    BOOST_TEST(!signals.signal().has_value());

    ::kill(::getpid(), SIGTERM);

    BOOST_TEST_REQUIRE(becomes_set(signals.flag()));
    BOOST_TEST(signals.signal().value_or(0) == SIGTERM);
}

BOOST_AUTO_TEST_CASE(the_first_signal_is_the_one_named)
{
    common::StopSignal signals;

    ::kill(::getpid(), SIGINT);
    BOOST_TEST_REQUIRE(becomes_set(signals.flag()));
    ::kill(::getpid(), SIGTERM);

    BOOST_TEST(signals.signal().value_or(0) == SIGINT);
}

BOOST_AUTO_TEST_CASE(a_signal_sent_before_the_call_is_seen_by_it)
{
    common::StopSignal signals;
    BOOST_TEST(!signals.signal().has_value());
    BOOST_REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    // Whether or not the thread has read it yet.
    BOOST_TEST(signals.signal().value_or(0) == SIGTERM);
    BOOST_TEST(signals.flag().load());
}
