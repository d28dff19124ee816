#pragma once
// Work that waits more than it computes, spread over a few threads.

#include <cstddef>
#include <functional>
#include <optional>

namespace common {

// Gives the next item not yet taken, or nullopt when none is left.
using TakeItem = std::function<std::optional<std::size_t>()>;

// Hands the items 0 .. count - 1 out to up to `workers_at_most` threads, this one among them:
// one thread for every `per_worker` items, and at least this one, since a thread costs more to
// start than a few items take. For work that waits more than it computes, such as flushes and
// removals, which goes faster side by side even on few processors. Each thread calls
// worker(take) once and takes items until take() says none is left; returns when all are
// done. `worker` must not throw.
void side_by_side(std::size_t count, std::size_t workers_at_most, std::size_t per_worker,
                  const std::function<void(const TakeItem& take)>& worker);

}  // namespace common
