#define BOOST_TEST_MODULE common_lock
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/lock.hpp"
#include "support/temp_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ostream>
#include <thread>

namespace common {
std::ostream& operator<<(std::ostream& out, LockState state)
{
    constexpr const char* names[] = {"free", "held", "unknown"};
    return out << names[static_cast<int>(state)];
}
}  // namespace common

using common::FileLock;
using common::LockState;
using test_support::TempDir;

namespace {

// The state `probe` reports for `file` in a child process running as nobody.
int probe_as_nobody(const std::filesystem::path& file)
{
    const pid_t child = ::fork();
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(100);
        ::_exit(static_cast<int>(FileLock::probe(file)));
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

BOOST_AUTO_TEST_CASE(second_try_acquire_fails_while_the_first_holds)
{
    TempDir dir;
    auto first = FileLock::try_acquire(dir / "x.lock");
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(!FileLock::try_acquire(dir / "x.lock").has_value());
    BOOST_TEST(FileLock::probe(dir / "x.lock") == LockState::held);
}

BOOST_AUTO_TEST_CASE(lock_is_free_again_after_release)
{
    TempDir dir;
    {
        auto first = FileLock::acquire(dir / "x.lock");
    }
    BOOST_TEST(FileLock::probe(dir / "x.lock") == LockState::free);
    BOOST_TEST(FileLock::try_acquire(dir / "x.lock").has_value());
}

BOOST_AUTO_TEST_CASE(missing_lock_file_is_free_and_not_created)
{
    TempDir dir;
    BOOST_TEST(FileLock::probe(dir / "absent.lock") == LockState::free);
    BOOST_TEST(!std::filesystem::exists(dir / "absent.lock"));
}

BOOST_AUTO_TEST_CASE(an_unreadable_lock_file_is_unknown_not_free)
{
    // A writer holds the lock; the prober may not open the file (EACCES). Root reads through
    // file modes, so then the probe runs as nobody.
    TempDir dir;
    std::filesystem::create_directory(dir / "locks");
    auto held = FileLock::acquire(dir / "locks" / "x.lock");
    ::chmod((dir / "locks" / "x.lock").c_str(), 0);
    const int state = ::geteuid() == 0
                          ? probe_as_nobody(dir / "locks" / "x.lock")
                          : static_cast<int>(FileLock::probe(dir / "locks" / "x.lock"));
    BOOST_TEST(state == static_cast<int>(LockState::unknown));
}

BOOST_AUTO_TEST_CASE(a_symlinked_lock_file_is_unknown)
{
    TempDir dir;
    test_support::write_file(dir / "target", "");
    std::filesystem::create_symlink(dir / "target", dir / "x.lock");
    BOOST_TEST(FileLock::probe(dir / "x.lock") == LockState::unknown);
}

BOOST_AUTO_TEST_CASE(a_probe_in_flight_does_not_make_try_acquire_fail)
{
    // A probe holds a shared lock for an instant; here one is held until a moment after
    // try_acquire starts, which must wait for it rather than report the lock as taken.
    TempDir dir;
    test_support::write_file(dir / "x.lock", "");
    const int probe_fd = ::open((dir / "x.lock").c_str(), O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE(probe_fd >= 0);
    BOOST_REQUIRE(::flock(probe_fd, LOCK_SH | LOCK_NB) == 0);
    std::thread release([probe_fd] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ::close(probe_fd);
    });
    const auto lock = FileLock::try_acquire(dir / "x.lock");
    release.join();
    BOOST_TEST(lock.has_value());
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

BOOST_AUTO_TEST_CASE(try_acquire_at_takes_a_free_lock_and_refuses_a_held_one)
{
    TempDir dir;
    const int folder = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    BOOST_REQUIRE(folder >= 0);
    {
        auto first = FileLock::try_acquire_at(folder, "a.lock");
        BOOST_TEST(first.has_value());
        BOOST_TEST(std::filesystem::is_regular_file(dir / "a.lock"));
        BOOST_TEST(FileLock::probe(dir / "a.lock") == LockState::held);
        BOOST_TEST(!FileLock::try_acquire_at(folder, "a.lock").has_value());
    }
    BOOST_TEST(FileLock::try_acquire_at(folder, "a.lock").has_value());
    ::close(folder);
}

BOOST_AUTO_TEST_CASE(try_acquire_at_refuses_a_symlink_and_a_fifo_without_blocking)
{
    TempDir dir;
    const int folder = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    std::filesystem::create_symlink(dir / "elsewhere", dir / "link.lock");
    BOOST_REQUIRE(::mkfifo((dir / "fifo.lock").c_str(), 0644) == 0);
    BOOST_TEST(!FileLock::try_acquire_at(folder, "link.lock").has_value());
    BOOST_TEST(!std::filesystem::exists(dir / "elsewhere"));
    BOOST_TEST(!FileLock::try_acquire_at(folder, "fifo.lock").has_value());
    ::close(folder);
}
