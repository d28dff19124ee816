#define BOOST_TEST_MODULE common_atomic_file
#include <boost/test/unit_test.hpp>

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/sqlite.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iterator>

namespace fs = std::filesystem;
using common::AtomicFile;
using test_support::TempDir;

namespace {

std::size_t entries_in(const fs::path& folder)
{
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(folder), fs::directory_iterator()));
}

mode_t mode_of(const fs::path& file)
{
    struct stat info {};
    BOOST_REQUIRE(::stat(file.c_str(), &info) == 0);
    return info.st_mode & 07777;
}

int exit_code_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const common::Error& error) {
        return static_cast<int>(error.code());
    }
    return 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(committed_file_has_the_content_and_mode_and_no_temporary_is_left)
{
    TempDir dir;
    common::write_file_atomically(dir / "out.prom", "metric 1\n", 0644);
    BOOST_TEST(test_support::file_bytes(dir / "out.prom") == "metric 1\n");
    BOOST_TEST(mode_of(dir / "out.prom") == 0644u);
    BOOST_TEST(entries_in(dir.path()) == 1u);
}

BOOST_AUTO_TEST_CASE(temporary_lives_in_the_target_folder_until_commit)
{
    TempDir dir;
    AtomicFile file(dir / "out.txt");
    BOOST_TEST(file.temporary_path().parent_path() == dir.path());
    file.write("partial");
    BOOST_TEST(!fs::exists(dir / "out.txt"));
    BOOST_TEST(fs::exists(file.temporary_path()));
    file.commit();
    BOOST_TEST(fs::exists(dir / "out.txt"));
    BOOST_TEST(!fs::exists(file.temporary_path()));
}

BOOST_AUTO_TEST_CASE(an_uncommitted_file_is_removed_and_the_old_one_kept)
{
    TempDir dir;
    test_support::write_file(dir / "out.txt", "old");
    fs::path temporary;
    {
        AtomicFile file(dir / "out.txt");
        temporary = file.temporary_path();
        file.write("new but unfinished");
    }
    BOOST_TEST(!fs::exists(temporary));
    BOOST_TEST(test_support::file_bytes(dir / "out.txt") == "old");
    BOOST_TEST(entries_in(dir.path()) == 1u);
}

BOOST_AUTO_TEST_CASE(files_flushed_apart_are_put_in_place_and_their_folder_flushed_once)
{
    TempDir dir;
    AtomicFile first(dir / "a.txt", 0600, common::Existing::refuse);
    AtomicFile second(dir / "b.txt", 0600, common::Existing::refuse);
    first.write("a");
    second.write("b");
    // Closed to wait without a descriptor, flushed later through its name.
    second.close_unflushed();
    BOOST_TEST(second.fd() == -1);
    BOOST_TEST(exit_code_of([&] { second.write("more"); }) == 70);
    first.flush();
    second.flush();
    BOOST_TEST(first.fd() == -1);
    BOOST_TEST(!fs::exists(dir / "a.txt"));
    first.commit(common::FolderSync::caller);
    second.commit(common::FolderSync::caller);
    common::sync_path(dir.path());

    BOOST_TEST(test_support::file_bytes(dir / "a.txt") == "a");
    BOOST_TEST(test_support::file_bytes(dir / "b.txt") == "b");
    BOOST_TEST(entries_in(dir.path()) == 2u);
    BOOST_TEST(exit_code_of([&] { first.commit(); }) == 70);
}

BOOST_AUTO_TEST_CASE(a_move_assigned_file_removes_the_temporary_it_replaced)
{
    TempDir dir;
    AtomicFile kept(dir / "kept.txt");
    AtomicFile dropped(dir / "dropped.txt");
    const auto dropped_temporary = dropped.temporary_path();
    kept.write("kept");
    dropped = std::move(kept);

    BOOST_TEST(!fs::exists(dropped_temporary));
    dropped.commit();
    BOOST_TEST(test_support::file_bytes(dir / "kept.txt") == "kept");
    BOOST_TEST(entries_in(dir.path()) == 1u);
}

BOOST_AUTO_TEST_CASE(replace_overwrites_an_existing_file)
{
    TempDir dir;
    test_support::write_file(dir / "out.txt", "old");
    common::write_file_atomically(dir / "out.txt", "new");
    BOOST_TEST(test_support::file_bytes(dir / "out.txt") == "new");
}

BOOST_AUTO_TEST_CASE(refuse_keeps_an_existing_file_and_is_exit_73)
{
    TempDir dir;
    test_support::write_file(dir / "out.txt", "old");
    BOOST_TEST(exit_code_of([&] {
                   common::write_file_atomically(dir / "out.txt", "new", 0600,
                                                 common::Existing::refuse);
               }) == 73);
    BOOST_TEST(test_support::file_bytes(dir / "out.txt") == "old");
    BOOST_TEST(entries_in(dir.path()) == 1u);
}

BOOST_AUTO_TEST_CASE(refuse_creates_a_missing_file)
{
    TempDir dir;
    common::write_file_atomically(dir / "out.txt", "new", 0600, common::Existing::refuse);
    BOOST_TEST(test_support::file_bytes(dir / "out.txt") == "new");
    BOOST_TEST(entries_in(dir.path()) == 1u);
}

BOOST_AUTO_TEST_CASE(a_missing_folder_is_exit_73)
{
    TempDir dir;
    BOOST_TEST(exit_code_of([&] { AtomicFile file(dir / "absent" / "out.txt"); }) == 73);
}

BOOST_AUTO_TEST_CASE(a_folder_in_the_way_is_exit_73_and_leaves_nothing)
{
    TempDir dir;
    fs::create_directory(dir / "out.txt");
    fs::create_directory(dir / "out.txt" / "inside");
    BOOST_TEST(exit_code_of([&] { common::write_file_atomically(dir / "out.txt", "x"); }) == 73);
    BOOST_TEST(fs::is_directory(dir / "out.txt"));
    BOOST_TEST(entries_in(dir.path()) == 1u);
}

BOOST_AUTO_TEST_CASE(a_fifo_or_a_link_to_a_device_is_never_replaced)
{
    // "--output /dev/null" run as root put a regular file where the device was.
    TempDir dir;
    BOOST_REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    fs::create_symlink("/dev/null", dir / "null");
    for (const auto* name : {"fifo", "null"}) {
        BOOST_TEST_CONTEXT(name)
        {
            BOOST_TEST(exit_code_of([&] { common::write_file_atomically(dir / name, "report"); }) ==
                       73);
        }
    }
    BOOST_TEST(fs::is_fifo(dir / "fifo"));
    BOOST_TEST(fs::is_symlink(dir / "null"));
    BOOST_TEST(fs::is_character_file("/dev/null"));
    BOOST_TEST(entries_in(dir.path()) == 2u);
}

BOOST_AUTO_TEST_CASE(a_fifo_put_in_place_of_the_target_before_commit_is_kept)
{
    TempDir dir;
    AtomicFile file(dir / "out.txt");
    file.write("report");
    BOOST_REQUIRE(::mkfifo((dir / "out.txt").c_str(), 0600) == 0);
    BOOST_TEST(exit_code_of([&] { file.commit(); }) == 73);
    BOOST_TEST(fs::is_fifo(dir / "out.txt"));
}

BOOST_AUTO_TEST_CASE(a_full_disk_is_exit_74_and_leaves_nothing)
{
    // /dev/full fails every write with ENOSPC; the descriptor is swapped in by dup2.
    TempDir dir;
    AtomicFile file(dir / "out.txt");
    const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
    BOOST_REQUIRE(full >= 0);
    BOOST_REQUIRE(::dup2(full, file.fd()) == file.fd());
    ::close(full);
    BOOST_TEST(exit_code_of([&] { file.write("does not fit"); }) == 74);
    BOOST_TEST(!fs::exists(dir / "out.txt"));
}

BOOST_AUTO_TEST_CASE(sqlite_vacuum_into_the_temporary_path_then_commit)
{
    // How a backup uses it: SQLite writes the copy by name, the AtomicFile puts it in place.
    TempDir dir;
    auto db = common::Database::open(dir / "live.db", {.mode = common::OpenMode::create});
    db.exec("CREATE TABLE t (v); INSERT INTO t VALUES (42)");
    AtomicFile backup(dir / "backup.db", 0600, common::Existing::refuse);
    auto vacuum = db.prepare("VACUUM INTO ?");
    vacuum.bind(1, backup.temporary_path().string()).run();
    backup.commit();
    auto copy = common::Database::open(dir / "backup.db", {.mode = common::OpenMode::read_only});
    BOOST_TEST(copy.query_int("SELECT v FROM t") == 42);
}

BOOST_AUTO_TEST_CASE(little_else_to_write_reads_the_machines_dirty_bytes)
{
    // What waits to be written never exceeds the machine's memory: with that much of its own,
    // a writer always has "little else" beside it. Were /proc/meminfo misread, the answer
    // would be false.
    const auto meminfo = common::read_file("/proc/meminfo");
    const auto total_kib = std::stoull(meminfo.substr(meminfo.find(':') + 1));
    BOOST_TEST(common::little_else_to_write(total_kib * 1024));
}

BOOST_AUTO_TEST_CASE(syncfs_reports_errors_from_linux_5_8_on)
{
    const auto release = test_support::run_process({"uname", "-r"});
    BOOST_TEST_REQUIRE(release.exit_code == 0);
    int major = 0;
    int minor = 0;
    BOOST_TEST_REQUIRE(std::sscanf(release.out.c_str(), "%d.%d", &major, &minor) == 2);
    BOOST_TEST(common::syncfs_reports_errors() == (major > 5 || (major == 5 && minor >= 8)));
}
