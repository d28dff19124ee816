#include "common/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

namespace common {

void side_by_side(std::size_t count, std::size_t workers_at_most, std::size_t per_worker,
                  const std::function<void(const TakeItem& take)>& worker)
{
    std::atomic<std::size_t> next{0};
    const TakeItem take = [&]() -> std::optional<std::size_t> {
        const auto item = next++;
        return item < count ? std::optional<std::size_t>(item) : std::nullopt;
    };
    const auto workers = std::clamp<std::size_t>(count / std::max<std::size_t>(per_worker, 1), 1,
                                                 std::max<std::size_t>(workers_at_most, 1));
    std::vector<std::jthread> helpers;
    try {
        for (std::size_t n = 1; n < workers; ++n)
            helpers.emplace_back([&] { worker(take); });
    } catch (const std::system_error&) {
        // No thread to be had: the items left go to those started, this one among them.
    }
    worker(take);
}

}  // namespace common
