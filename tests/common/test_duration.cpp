#define BOOST_TEST_MODULE common_duration
#include <boost/test/unit_test.hpp>

#include "common/duration.hpp"
#include "common/error.hpp"

using namespace std::chrono;

namespace {

common::TimePoint at(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0)
{
    return sys_days(year(y) / month(m) / day(d)) + hours(hh) + minutes(mm) + seconds(ss);
}

bool is_usage_error(const common::Error& error)
{
    return error.code() == common::Exit::usage;
}

}  // namespace

BOOST_AUTO_TEST_CASE(durations_in_every_unit)
{
    BOOST_TEST(common::parse_duration("90s").count() == 90);
    BOOST_TEST(common::parse_duration("30m").count() == 30 * 60);
    BOOST_TEST(common::parse_duration("12h").count() == 12 * 3600);
    BOOST_TEST(common::parse_duration("7d").count() == 7 * 86400);
    BOOST_TEST(common::parse_duration("2w").count() == 14 * 86400);
}

BOOST_AUTO_TEST_CASE(malformed_durations_are_usage_errors)
{
    for (const auto* text : {"", "d", "7", "7x", "-1d", "1.5h", "7 d", "99999999999999999d"})
        BOOST_CHECK_EXCEPTION(common::parse_duration(text), common::Error, is_usage_error);
}

BOOST_AUTO_TEST_CASE(utc_times_in_the_accepted_forms)
{
    BOOST_TEST((common::parse_time("2026-11-27") == at(2026, 11, 27)));
    BOOST_TEST((common::parse_time("2026-11-27T10:15:00Z") == at(2026, 11, 27, 10, 15)));
    BOOST_TEST((common::parse_time("2026-11-27T10:15") == at(2026, 11, 27, 10, 15)));
    BOOST_TEST((common::parse_time("2026-11-27 10:15:09") == at(2026, 11, 27, 10, 15, 9)));
}

BOOST_AUTO_TEST_CASE(impossible_times_are_usage_errors)
{
    for (const auto* text : {"2026-02-30", "2026-13-01", "2026-11-27T24:00", "2026-11-27T10:60",
                             "2026-11-27T10:15:00+02:00", "27.11.2026", "2026-11-27x"})
        BOOST_CHECK_EXCEPTION(common::parse_time(text), common::Error, is_usage_error);
}

BOOST_AUTO_TEST_CASE(since_counts_a_duration_back_from_now_or_takes_a_time)
{
    const auto now = at(2026, 11, 27, 12);
    BOOST_TEST((common::parse_since("12h", now) == at(2026, 11, 27)));
    BOOST_TEST((common::parse_since("7d", now) == at(2026, 11, 20, 12)));
    BOOST_TEST((common::parse_since("2026-11-01", now) == at(2026, 11, 1)));
    BOOST_CHECK_EXCEPTION(common::parse_since("yesterday", now), common::Error, is_usage_error);
}
