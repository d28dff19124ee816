#pragma once
// Statistics for reports: nearest-rank percentiles, summaries of integer samples, the
// Mann-Whitney U test and a bootstrap confidence interval with a fixed seed.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace common::stats {

// p95 and p99 need at least this many samples; below it they are left out (null).
constexpr std::size_t min_tail_samples = 20;

// The nearest-rank percentile of `sorted` (ascending): the value at 1-based rank
// ceil(p / 100 * n), at least rank 1. nullopt when `sorted` is empty. `p` is in (0, 100].
std::optional<std::int64_t> nearest_rank(std::span<const std::int64_t> sorted, double p);
// That 1-based rank among `n` values (n > 0), computed in integers.
std::size_t nearest_rank_of(std::size_t n, double p);

// What a report shows of one quantity. Values are in the unit of the samples; mean is
// sum / count. p95 and p99 are nullopt below min_tail_samples, everything else when empty.
struct Summary {
    std::size_t count = 0;
    long double sum = 0;  // cannot overflow, whatever the samples
    std::optional<std::int64_t> min;
    std::optional<double> mean;
    std::optional<std::int64_t> max;
    std::optional<std::int64_t> p50;
    std::optional<std::int64_t> p95;
    std::optional<std::int64_t> p99;
};

// Summarizes `samples`, sorting them in place (the order of the input does not matter).
Summary summarize(std::vector<std::int64_t>& samples);

// The conventional median: the middle value, or the mean of the two middle values.
// nullopt when empty. Does not need sorted input.
std::optional<double> median(std::span<const double> values);

// The result of a two-sided Mann-Whitney U test of two independent samples.
struct MannWhitney {
    double u = 0;        // U of the first sample: pairs (a, b) with a > b, ties counting 1/2
    double z = 0;        // the normal approximation's statistic, continuity-corrected
    double p_value = 1;  // two-sided
};

// Mann-Whitney U with the normal approximation, continuity correction and the correction of
// the variance for ties. p = 1 when either sample is empty or every value is tied.
MannWhitney mann_whitney_u(std::span<const double> a, std::span<const double> b);

// A two-sided confidence interval.
struct Interval {
    double lower = 0;
    double upper = 0;
};

// The percentile bootstrap of `statistic(a, b)`: `iterations` resamples of each sample with
// replacement, drawn by a std::mt19937_64 seeded with `seed` (so the result is reproducible
// on every platform), and the (1 - confidence) / 2 and (1 + confidence) / 2 nearest-rank
// percentiles of the statistics. nullopt when a sample is empty.
std::optional<Interval> bootstrap_interval(
    std::span<const double> a, std::span<const double> b,
    const std::function<double(std::span<const double>, std::span<const double>)>& statistic,
    int iterations = 2000, double confidence = 0.95, std::uint64_t seed = 0x5eed5eed);

// The percentile bootstrap of median(a) / median(b), as bootstrap_interval() with that
// statistic computes it, but without building or sorting any resample: the median of a
// resample is drawn from its exact distribution (order statistics of uniforms, Beta deviates
// from Gamma ones, all from a std::mt19937_64 seeded with `seed`), O(1) per resample once the
// samples are sorted.
std::optional<Interval> bootstrap_median_ratio(std::span<const double> a, std::span<const double> b,
                                               int iterations = 2000, double confidence = 0.95,
                                               std::uint64_t seed = 0x5eed5eed);

}  // namespace common::stats
