#pragma once
// Integer samples kept for nearest-rank percentiles in 4 bytes each where they fit (nearly
// always: a latency in µs up to 71 minutes), so that --window all holds a million spawns in
// a few MiB; the percentiles of several agents together are found without merging them.

#include "common/stats.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace metrics_report {

class Samples {
public:
    void add(std::int64_t value);
    std::size_t size() const { return m_small.size() + m_large.size(); }
    // Sorts the samples; call before summary(), at() or count_at_most().
    void sort();
    // The value of 0-based rank `rank` among the sorted samples.
    std::int64_t at(std::size_t rank) const;
    // How many samples are <= `value`.
    std::size_t count_at_most(std::int64_t value) const;
    // Count, sum, min, mean, max and nearest-rank percentiles, as common::stats::summarize().
    common::stats::Summary summary() const;

private:
    std::vector<std::uint32_t> m_small;  // 0 to UINT32_MAX
    std::vector<std::int64_t> m_large;   // the rest: negatives before m_small, others after
    std::size_t m_negative = 0;          // leading negatives of the sorted m_large
};

// The summary of all of `parts` (each sorted) together, as if they were one sample.
common::stats::Summary summary_of(std::span<const Samples* const> parts);

}  // namespace metrics_report
