#define BOOST_TEST_MODULE common_clock
#include <boost/test/unit_test.hpp>

#include "common/clock.hpp"

#include <cstdlib>
#include <ctime>

namespace {

// 2025-11-14 10:15:00 UTC
const common::TimePoint sample = std::chrono::system_clock::from_time_t(1763115300);

// Runs the test under a time zone far from UTC, restoring the old one after.
struct FarTimeZone {
    FarTimeZone()
    {
        // A POSIX rule, five hours west of UTC, so that no tzdata is needed.
        ::setenv("TZ", "XYZ+5", 1);
        ::tzset();
    }
    ~FarTimeZone()
    {
        ::unsetenv("TZ");
        ::tzset();
    }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(sql_timestamp_is_utc_whatever_the_time_zone, FarTimeZone)
{
    BOOST_TEST(common::sql_timestamp(sample) == "2025-11-14 10:15:00");
}

BOOST_FIXTURE_TEST_CASE(iso8601_is_utc_with_z, FarTimeZone)
{
    BOOST_TEST(common::iso8601(sample) == "2025-11-14T10:15:00Z");
}
