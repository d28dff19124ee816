#include "common/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <random>

namespace common::stats {
namespace {

// 1-based nearest rank of percentile `p` among `n` values: ceil(p / 100 * n), in integers once
// p is rounded to parts per million, so that (1 - 0.95) / 2 * 100 = 2.500000000000002 is 2.5
// and the 2.5th percentile of 2000 values is the 50th, not the 51st.
std::size_t rank_of(std::size_t n, double p)
{
    constexpr std::uint64_t million = 1000000;
    const auto ppm = static_cast<std::uint64_t>(std::clamp(std::llround(p * 1e4), 0LL, 1000000LL));
    // ceil(ppm * n / 1e6) without overflow: n = q * 1e6 + r.
    const std::uint64_t count = n;
    const auto exact = ppm * (count / million) + (ppm * (count % million) + million - 1) / million;
    return std::clamp<std::size_t>(static_cast<std::size_t>(exact), 1, n);
}

// A uniform index below `n` from the raw 64-bit output, by rejection: std::uniform_int_distribution
// is implementation-defined, which would make the "fixed seed" differ between standard libraries.
std::size_t uniform_index(std::mt19937_64& engine, std::size_t n)
{
    const auto bound = static_cast<std::uint64_t>(n);
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() -
                                std::numeric_limits<std::uint64_t>::max() % bound;
    std::uint64_t draw = engine();
    while (draw >= limit)
        draw = engine();
    return static_cast<std::size_t>(draw % bound);
}

// A uniform double in (0, 1) from the raw 64-bit output (53 bits), the same on every platform.
double open_unit(std::mt19937_64& engine)
{
    return (static_cast<double>(engine() >> 11) + 0.5) * 0x1.0p-53;
}

// A standard normal deviate by Box-Muller.
double normal(std::mt19937_64& engine)
{
    const double radius = std::sqrt(-2 * std::log(open_unit(engine)));
    return radius * std::cos(2 * std::numbers::pi * open_unit(engine));
}

// A Gamma(shape, 1) deviate, shape >= 1, by Marsaglia and Tsang's method (exact).
double gamma(std::mt19937_64& engine, double shape)
{
    const double d = shape - 1.0 / 3;
    const double c = 1 / std::sqrt(9 * d);
    for (;;) {
        const double x = normal(engine);
        double v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        if (std::log(open_unit(engine)) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
}

// The median of one resample with replacement of `sorted` (ascending), drawn without making
// the resample. Resampled values are sorted[floor(U_i * n)] for n uniforms U_i; floor keeps
// their order, so the k-th smallest is sorted[floor(U_(k) * n)], and the k-th order statistic
// of n uniforms is Beta(k, n - k + 1); the next one is the least of the n - k uniforms above
// it. Exactly the distribution of the resample's median, in O(1) instead of O(n).
double resampled_median(std::mt19937_64& engine, std::span<const double> sorted)
{
    const auto n = sorted.size();
    const auto count = static_cast<double>(n);
    const auto index = [&](double unit) {
        return std::min(n - 1, static_cast<std::size_t>(unit * count));
    };
    const std::size_t k = (n - 1) / 2 + 1;  // 1-based rank of the lower middle value
    const double x = gamma(engine, static_cast<double>(k));
    const double y = gamma(engine, static_cast<double>(n - k + 1));
    const double lower = x / (x + y);
    if (n % 2 == 1) return sorted[index(lower)];
    const double above = static_cast<double>(n - k);
    const double upper = lower + (1 - lower) * (1 - std::pow(open_unit(engine), 1 / above));
    return (sorted[index(lower)] + sorted[index(upper)]) / 2;
}

void resample(std::mt19937_64& engine, std::span<const double> from, std::vector<double>& into)
{
    into.resize(from.size());
    for (auto& value : into)
        value = from[uniform_index(engine, from.size())];
}

}  // namespace

std::size_t nearest_rank_of(std::size_t n, double p)
{
    return rank_of(n, p);
}

std::optional<std::int64_t> nearest_rank(std::span<const std::int64_t> sorted, double p)
{
    if (sorted.empty()) return std::nullopt;
    return sorted[rank_of(sorted.size(), p) - 1];
}

Summary summarize(std::vector<std::int64_t>& samples)
{
    Summary summary;
    summary.count = samples.size();
    if (samples.empty()) return summary;
    std::sort(samples.begin(), samples.end());
    // Summed in a type that holds any number of int64 values without overflow.
    summary.sum = std::accumulate(
        samples.begin(), samples.end(), 0.0L,
        [](long double sum, std::int64_t value) { return sum + static_cast<long double>(value); });
    summary.min = samples.front();
    summary.max = samples.back();
    summary.mean = static_cast<double>(summary.sum / static_cast<long double>(samples.size()));
    summary.p50 = nearest_rank(samples, 50);
    if (samples.size() >= min_tail_samples) {
        summary.p95 = nearest_rank(samples, 95);
        summary.p99 = nearest_rank(samples, 99);
    }
    return summary;
}

std::optional<double> median(std::span<const double> values)
{
    if (values.empty()) return std::nullopt;
    std::vector<double> sorted(values.begin(), values.end());
    const auto middle = sorted.size() / 2;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(middle),
                     sorted.end());
    const double upper = sorted[middle];
    if (sorted.size() % 2 == 1) return upper;
    const double lower =
        *std::max_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(middle));
    return (lower + upper) / 2;
}

MannWhitney mann_whitney_u(std::span<const double> a, std::span<const double> b)
{
    MannWhitney result;
    if (a.empty() || b.empty()) return result;
    struct Ranked {
        double value;
        bool first;
    };
    std::vector<Ranked> all;
    all.reserve(a.size() + b.size());
    for (const double value : a)
        all.push_back({value, true});
    for (const double value : b)
        all.push_back({value, false});
    std::sort(all.begin(), all.end(),
              [](const Ranked& x, const Ranked& y) { return x.value < y.value; });

    // Average ranks over runs of ties; sum of t^3 - t over the runs for the variance.
    double rank_sum_a = 0;
    double tie_term = 0;
    for (std::size_t i = 0; i < all.size();) {
        std::size_t j = i;
        while (j < all.size() && all[j].value == all[i].value)
            ++j;
        const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
        for (std::size_t k = i; k < j; ++k)
            if (all[k].first) rank_sum_a += average_rank;
        const auto t = static_cast<double>(j - i);
        tie_term += t * t * t - t;
        i = j;
    }

    const auto n1 = static_cast<double>(a.size());
    const auto n2 = static_cast<double>(b.size());
    const double n = n1 + n2;
    result.u = rank_sum_a - n1 * (n1 + 1) / 2;
    const double mean = n1 * n2 / 2;
    const double variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)));
    if (variance <= 0) return result;
    const double distance = std::max(std::abs(result.u - mean) - 0.5, 0.0);
    result.z = distance / std::sqrt(variance);
    result.p_value = std::min(1.0, std::erfc(result.z / std::sqrt(2.0)));
    return result;
}

std::optional<Interval> bootstrap_interval(
    std::span<const double> a, std::span<const double> b,
    const std::function<double(std::span<const double>, std::span<const double>)>& statistic,
    int iterations, double confidence, std::uint64_t seed)
{
    if (a.empty() || b.empty() || iterations <= 0) return std::nullopt;
    std::mt19937_64 engine(seed);
    std::vector<double> sample_a;
    std::vector<double> sample_b;
    std::vector<double> statistics;
    statistics.reserve(static_cast<std::size_t>(iterations));
    for (int i = 0; i < iterations; ++i) {
        resample(engine, a, sample_a);
        resample(engine, b, sample_b);
        statistics.push_back(statistic(sample_a, sample_b));
    }
    std::sort(statistics.begin(), statistics.end());
    const double tail = (1 - confidence) / 2 * 100;
    return Interval{statistics[rank_of(statistics.size(), tail) - 1],
                    statistics[rank_of(statistics.size(), 100 - tail) - 1]};
}

std::optional<Interval> bootstrap_median_ratio(std::span<const double> a, std::span<const double> b,
                                               int iterations, double confidence,
                                               std::uint64_t seed)
{
    if (a.empty() || b.empty() || iterations <= 0) return std::nullopt;
    std::vector<double> sorted_a(a.begin(), a.end());
    std::vector<double> sorted_b(b.begin(), b.end());
    std::sort(sorted_a.begin(), sorted_a.end());
    std::sort(sorted_b.begin(), sorted_b.end());
    std::mt19937_64 engine(seed);
    std::vector<double> statistics;
    statistics.reserve(static_cast<std::size_t>(iterations));
    for (int i = 0; i < iterations; ++i) {
        const double median_a = resampled_median(engine, sorted_a);
        const double median_b = resampled_median(engine, sorted_b);
        statistics.push_back(median_a / median_b);
    }
    std::sort(statistics.begin(), statistics.end());
    const double tail = (1 - confidence) / 2 * 100;
    return Interval{statistics[rank_of(statistics.size(), tail) - 1],
                    statistics[rank_of(statistics.size(), 100 - tail) - 1]};
}

}  // namespace common::stats
