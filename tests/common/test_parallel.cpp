#define BOOST_TEST_MODULE common_parallel
#include <boost/test/unit_test.hpp>

#include "common/parallel.hpp"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

BOOST_AUTO_TEST_CASE(every_item_is_taken_exactly_once_by_the_threads_it_starts)
{
    constexpr std::size_t count = 1000;
    std::vector<std::atomic<int>> taken(count);
    std::mutex mutex;
    std::set<std::thread::id> threads;
    common::side_by_side(count, 4, 10, [&](const common::TakeItem& take) {
        {
            const std::lock_guard lock(mutex);
            threads.insert(std::this_thread::get_id());
        }
        while (const auto i = take())
            ++taken[*i];
    });
    for (std::size_t i = 0; i < count; ++i)
        BOOST_TEST(taken[i].load() == 1, "item " << i);
    BOOST_TEST(threads.size() == 4u);
    BOOST_TEST(threads.count(std::this_thread::get_id()) == 1u);
}

BOOST_AUTO_TEST_CASE(a_short_list_stays_on_the_calling_thread)
{
    std::vector<std::thread::id> threads;
    std::size_t items = 0;
    common::side_by_side(7, 8, 8, [&](const common::TakeItem& take) {
        threads.push_back(std::this_thread::get_id());
        while (take())
            ++items;
    });
    BOOST_TEST(items == 7u);
    BOOST_TEST_REQUIRE(threads.size() == 1u);
    BOOST_TEST((threads.front() == std::this_thread::get_id()));
}

BOOST_AUTO_TEST_CASE(no_items_calls_the_worker_once_with_nothing_to_take)
{
    int calls = 0;
    common::side_by_side(0, 4, 1, [&](const common::TakeItem& take) {
        ++calls;
        BOOST_TEST(!take().has_value());
    });
    BOOST_TEST(calls == 1);
}
