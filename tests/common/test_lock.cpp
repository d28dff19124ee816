#define BOOST_TEST_MODULE common_lock
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/lock.hpp"
#include "support/temp_dir.hpp"

using common::FileLock;
using test_support::TempDir;

BOOST_AUTO_TEST_CASE(second_try_acquire_fails_while_the_first_holds)
{
    TempDir dir;
    auto first = FileLock::try_acquire(dir / "x.lock");
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(!FileLock::try_acquire(dir / "x.lock").has_value());
    BOOST_TEST(FileLock::is_held(dir / "x.lock"));
}

BOOST_AUTO_TEST_CASE(lock_is_free_again_after_release)
{
    TempDir dir;
    {
        auto first = FileLock::acquire(dir / "x.lock");
    }
    BOOST_TEST(!FileLock::is_held(dir / "x.lock"));
    BOOST_TEST(FileLock::try_acquire(dir / "x.lock").has_value());
}

BOOST_AUTO_TEST_CASE(missing_lock_file_is_not_held_and_not_created)
{
    TempDir dir;
    BOOST_TEST(!FileLock::is_held(dir / "absent.lock"));
    BOOST_TEST(!std::filesystem::exists(dir / "absent.lock"));
}

BOOST_AUTO_TEST_CASE(symlinked_lock_file_is_refused)
{
    TempDir dir;
    test_support::write_file(dir / "target", "keep");
    std::filesystem::create_symlink(dir / "target", dir / "x.lock");
    try {
        FileLock::try_acquire(dir / "x.lock");
        BOOST_FAIL("a symlink must not be followed");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 73);
    }
    BOOST_TEST(test_support::file_bytes(dir / "target") == "keep");
}
