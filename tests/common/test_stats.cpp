#define BOOST_TEST_MODULE common_stats
#include <boost/test/unit_test.hpp>

#include "common/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace stats = common::stats;

namespace {

std::vector<std::int64_t> one_to(std::int64_t n)
{
    std::vector<std::int64_t> values(static_cast<std::size_t>(n));
    std::iota(values.begin(), values.end(), 1);
    return values;
}

double ratio_of_medians(std::span<const double> a, std::span<const double> b)
{
    return *stats::median(a) / *stats::median(b);
}

}  // namespace

BOOST_AUTO_TEST_CASE(nearest_rank_of_one_to_hundred_is_the_percentile_itself)
{
    auto values = one_to(100);
    std::shuffle(values.begin(), values.end(), std::mt19937(7));
    const auto summary = stats::summarize(values);
    BOOST_TEST(*summary.p50 == 50);
    BOOST_TEST(*summary.p95 == 95);
    BOOST_TEST(*summary.p99 == 99);
    BOOST_TEST(*summary.min == 1);
    BOOST_TEST(*summary.max == 100);
    BOOST_TEST(*summary.mean == 50.5);
    BOOST_TEST(summary.sum == 5050);
}

BOOST_AUTO_TEST_CASE(nearest_rank_takes_the_ceiling_rank)
{
    // n = 10: p95 has rank ceil(9.5) = 10, p50 rank 5, p1 rank ceil(0.1) = 1.
    const auto values = one_to(10);
    BOOST_TEST(*stats::nearest_rank(values, 95) == 10);
    BOOST_TEST(*stats::nearest_rank(values, 50) == 5);
    BOOST_TEST(*stats::nearest_rank(values, 1) == 1);
    BOOST_TEST(!stats::nearest_rank({}, 50).has_value());
}

BOOST_AUTO_TEST_CASE(tail_percentiles_are_null_below_twenty_samples)
{
    auto nineteen = one_to(19);
    const auto few = stats::summarize(nineteen);
    BOOST_TEST(few.p50.has_value());
    BOOST_TEST(!few.p95.has_value());
    BOOST_TEST(!few.p99.has_value());

    auto twenty = one_to(20);
    const auto enough = stats::summarize(twenty);
    BOOST_TEST(*enough.p95 == 19);
    BOOST_TEST(*enough.p99 == 20);
}

BOOST_AUTO_TEST_CASE(an_empty_summary_has_a_count_of_zero_and_no_values)
{
    std::vector<std::int64_t> none;
    const auto summary = stats::summarize(none);
    BOOST_TEST(summary.count == 0u);
    BOOST_TEST(!summary.min.has_value());
    BOOST_TEST(!summary.mean.has_value());
    BOOST_TEST(!summary.p50.has_value());
}

BOOST_AUTO_TEST_CASE(median_of_an_even_count_is_the_mean_of_the_middle_two)
{
    const std::vector<double> even{4, 1, 3, 2};
    const std::vector<double> odd{5, 1, 3};
    BOOST_TEST(*stats::median(even) == 2.5);
    BOOST_TEST(*stats::median(odd) == 3.0);
    BOOST_TEST(!stats::median({}).has_value());
}

BOOST_AUTO_TEST_CASE(mann_whitney_matches_a_hand_computed_example)
{
    // a = {1, 2, 3}, b = {4, 5, 6, 7}: U(a) = 0, mean 6, variance 3*4*8/12 = 8,
    // z = (6 - 0.5) / sqrt(8) = 1.9445, two-sided p = 0.0518.
    const std::vector<double> a{1, 2, 3};
    const std::vector<double> b{4, 5, 6, 7};
    const auto result = stats::mann_whitney_u(a, b);
    BOOST_TEST(result.u == 0.0);
    BOOST_TEST(result.z == 5.5 / std::sqrt(8.0), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(result.p_value == 0.05183, boost::test_tools::tolerance(1e-3));
}

BOOST_AUTO_TEST_CASE(mann_whitney_corrects_the_variance_for_ties)
{
    // a = {1, 2, 2}, b = {2, 3}: ranks 1, 3, 3 | 3, 5; U(a) = 7 - 6 = 1; one tie of three:
    // variance = 3*2/12 * (6 - 24/20) = 2.4; z = (|1 - 3| - 0.5) / sqrt(2.4).
    const std::vector<double> a{1, 2, 2};
    const std::vector<double> b{2, 3};
    const auto result = stats::mann_whitney_u(a, b);
    BOOST_TEST(result.u == 1.0);
    BOOST_TEST(result.z == 1.5 / std::sqrt(2.4), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(mann_whitney_of_identical_values_gives_p_one)
{
    const std::vector<double> same(10, 5.0);
    BOOST_TEST(stats::mann_whitney_u(same, same).p_value == 1.0);
}

BOOST_AUTO_TEST_CASE(mann_whitney_finds_a_clear_shift_and_not_a_null_one)
{
    std::mt19937_64 engine(42);
    std::normal_distribution<double> noise(0, 1);
    std::vector<double> slow, fast, other;
    for (int i = 0; i < 30; ++i) {
        slow.push_back(150 + noise(engine) * 5);
        fast.push_back(50 + noise(engine) * 5);
        other.push_back(150 + noise(engine) * 5);
    }
    BOOST_TEST(stats::mann_whitney_u(slow, fast).p_value < 0.05);
    BOOST_TEST(stats::mann_whitney_u(slow, other).p_value > 0.05);
}

BOOST_AUTO_TEST_CASE(bootstrap_interval_is_reproducible_and_contains_the_estimate)
{
    const std::vector<double> slow{148, 150, 152, 149, 151, 155, 147, 150};
    const std::vector<double> fast{50, 52, 49, 51, 50, 48, 53, 50};
    const auto first = stats::bootstrap_interval(slow, fast, ratio_of_medians);
    const auto second = stats::bootstrap_interval(slow, fast, ratio_of_medians);
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(first->lower == second->lower);
    BOOST_TEST(first->upper == second->upper);
    const double estimate = ratio_of_medians(slow, fast);
    BOOST_TEST(first->lower <= estimate);
    BOOST_TEST(first->upper >= estimate);
    BOOST_TEST(first->lower > 2.5);
    BOOST_TEST(first->upper < 3.5);
}

BOOST_AUTO_TEST_CASE(bootstrap_interval_of_an_empty_sample_is_null)
{
    const std::vector<double> some{1, 2, 3};
    BOOST_TEST(!stats::bootstrap_interval(some, {}, ratio_of_medians).has_value());
}

BOOST_AUTO_TEST_CASE(bootstrap_lower_bound_is_the_fiftieth_of_two_thousand)
{
    // The statistic of the i-th resample is i: sorted, rank r holds r.
    double next = 0;
    const std::vector<double> one{1.0};
    const auto interval = common::stats::bootstrap_interval(
        one, one, [&](std::span<const double>, std::span<const double>) { return ++next; }, 2000,
        0.95);
    BOOST_REQUIRE(interval.has_value());
    BOOST_TEST(interval->lower == 50.0);
    BOOST_TEST(interval->upper == 1950.0);
}

BOOST_AUTO_TEST_CASE(nearest_ranks_are_exact_for_every_count)
{
    for (std::int64_t n = 1; n <= 1000; ++n) {
        std::vector<std::int64_t> values(static_cast<std::size_t>(n));
        std::iota(values.begin(), values.end(), 1);
        for (const std::int64_t p : {50, 95, 99}) {
            const auto expected = (p * n + 99) / 100;
            BOOST_TEST(*common::stats::nearest_rank(values, static_cast<double>(p)) == expected,
                       "n = " << n << ", p = " << p);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_mean_of_the_largest_values_does_not_overflow)
{
    std::vector<std::int64_t> values(3, std::numeric_limits<std::int64_t>::max());
    const auto summary = common::stats::summarize(values);
    BOOST_TEST(*summary.mean == 9.223372036854775807e18, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(the_fast_median_ratio_bootstrap_agrees_with_resampling_whole_samples)
{
    std::mt19937_64 engine(7);
    std::lognormal_distribution<double> times(5.0, 0.4);
    for (const auto& [size_a, size_b] : {std::pair{301, 400}, std::pair{250, 251}}) {
        std::vector<double> a(static_cast<std::size_t>(size_a));
        std::vector<double> b(static_cast<std::size_t>(size_b));
        for (auto& value : a)
            value = 2 * times(engine);
        for (auto& value : b)
            value = times(engine);
        const auto slow = common::stats::bootstrap_interval(
            a, b,
            [](std::span<const double> x, std::span<const double> y) {
                return *common::stats::median(x) / *common::stats::median(y);
            },
            4000);
        const auto fast = common::stats::bootstrap_median_ratio(a, b, 4000);
        BOOST_REQUIRE(slow && fast);
        const double width = slow->upper - slow->lower;
        BOOST_TEST(std::abs(fast->lower - slow->lower) < 0.1 * width,
                   fast->lower << " vs " << slow->lower);
        BOOST_TEST(std::abs(fast->upper - slow->upper) < 0.1 * width,
                   fast->upper << " vs " << slow->upper);
        // The same seed gives the same interval.
        const auto again = common::stats::bootstrap_median_ratio(a, b, 4000);
        BOOST_TEST(again->lower == fast->lower);
        BOOST_TEST(again->upper == fast->upper);
    }
}
