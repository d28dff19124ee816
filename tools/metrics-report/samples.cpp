#include "samples.hpp"

#include <algorithm>
#include <limits>

namespace metrics_report {
namespace {

// The value of 1-based nearest rank `rank` among all of `parts`: the least value v with at
// least `rank` samples <= v, by bisection over the values.
std::int64_t value_of_rank(std::span<const Samples* const> parts, std::size_t rank,
                           std::int64_t low, std::int64_t high)
{
    while (low < high) {
        const std::int64_t middle = low + (high - low) / 2;
        std::size_t count = 0;
        for (const auto* part : parts)
            count += part->count_at_most(middle);
        if (count >= rank)
            high = middle;
        else
            low = middle + 1;
    }
    return low;
}

// Fills the percentiles of `summary` (count, min and max set) with `value`(1-based rank).
template <typename ValueOf> void add_percentiles(common::stats::Summary& summary, ValueOf value)
{
    summary.p50 = value(common::stats::nearest_rank_of(summary.count, 50));
    if (summary.count >= common::stats::min_tail_samples) {
        summary.p95 = value(common::stats::nearest_rank_of(summary.count, 95));
        summary.p99 = value(common::stats::nearest_rank_of(summary.count, 99));
    }
}

}  // namespace

void Samples::add(std::int64_t value)
{
    if (value >= 0 && value <= std::numeric_limits<std::uint32_t>::max())
        m_small.push_back(static_cast<std::uint32_t>(value));
    else
        m_large.push_back(value);
}

void Samples::sort()
{
    std::sort(m_small.begin(), m_small.end());
    std::sort(m_large.begin(), m_large.end());
    m_negative = static_cast<std::size_t>(std::lower_bound(m_large.begin(), m_large.end(), 0) -
                                          m_large.begin());
}

std::int64_t Samples::at(std::size_t rank) const
{
    if (rank < m_negative) return m_large[rank];
    if (rank - m_negative < m_small.size()) return m_small[rank - m_negative];
    return m_large[rank - m_small.size()];
}

std::size_t Samples::count_at_most(std::int64_t value) const
{
    const auto large = static_cast<std::size_t>(
        std::upper_bound(m_large.begin(), m_large.end(), value) - m_large.begin());
    if (value < 0) return large;
    const auto small =
        value > std::numeric_limits<std::uint32_t>::max()
            ? m_small.size()
            : static_cast<std::size_t>(std::upper_bound(m_small.begin(), m_small.end(),
                                                        static_cast<std::uint32_t>(value)) -
                                       m_small.begin());
    return large + small;
}

common::stats::Summary Samples::summary() const
{
    common::stats::Summary summary;
    summary.count = size();
    if (summary.count == 0) return summary;
    for (const auto value : m_small)
        summary.sum += value;
    for (const auto value : m_large)
        summary.sum += static_cast<long double>(value);
    summary.min = at(0);
    summary.max = at(summary.count - 1);
    summary.mean = static_cast<double>(summary.sum / static_cast<long double>(summary.count));
    add_percentiles(summary, [&](std::size_t rank) { return at(rank - 1); });
    return summary;
}

common::stats::Summary summary_of(std::span<const Samples* const> parts)
{
    common::stats::Summary summary;
    for (const auto* part : parts) {
        const auto one = part->summary();
        if (one.count == 0) continue;
        if (summary.count == 0 || *one.min < *summary.min) summary.min = one.min;
        if (summary.count == 0 || *one.max > *summary.max) summary.max = one.max;
        summary.count += one.count;
        summary.sum += one.sum;
    }
    if (summary.count == 0) return summary;
    summary.mean = static_cast<double>(summary.sum / static_cast<long double>(summary.count));
    add_percentiles(summary, [&](std::size_t rank) {
        return value_of_rank(parts, rank, *summary.min, *summary.max);
    });
    return summary;
}

}  // namespace metrics_report
