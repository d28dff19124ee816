#define BOOST_TEST_MODULE common_tree
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/spec_id.hpp"
#include "common/tree.hpp"
#include "support/temp_dir.hpp"

#include <fcntl.h>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using common::EntryType;
using common::TreeRoot;
using test_support::TempDir;
using test_support::write_file;

namespace {

std::set<std::string> walked(const TreeRoot& root, std::string_view from = "")
{
    std::set<std::string> paths;
    root.walk(from, [&](const common::TreeEntry& entry) {
        paths.insert(entry.path);
        return true;
    });
    return paths;
}

}  // namespace

BOOST_AUTO_TEST_CASE(spec_ids_follow_the_rule)
{
    for (const auto* good : {"SPEC-KIT-933", "SPEC-OPS-004", "A-1", "X9-Y-Z"})
        BOOST_TEST(common::is_spec_id(good), good);
    for (const auto* bad : {"", "SPEC", "spec-kit-1", "SPEC-", "SPEC--1", "-SPEC-1", "SPEC-kit",
                            "1SPEC-1", "SPEC-KIT-933.json", "SPEC_KIT-1"})
        BOOST_TEST(!common::is_spec_id(bad), bad);
}

BOOST_AUTO_TEST_CASE(walk_yields_relative_paths_types_sizes_and_mtimes)
{
    TempDir dir;
    fs::create_directories(dir / "a/b");
    write_file(dir / "a/b/f.json", "12345");
    const timespec times[2] = {{1000, 5}, {1000, 5}};
    ::utimensat(AT_FDCWD, (dir / "a/b/f.json").c_str(), times, 0);
    const auto root = TreeRoot::open(dir.path());
    bool seen = false;
    root.walk("", [&](const common::TreeEntry& entry) {
        if (entry.path == "a/b/f.json") {
            seen = true;
            BOOST_TEST((entry.info.type == EntryType::file));
            BOOST_TEST(entry.info.size == 5u);
            BOOST_TEST(entry.info.mtime_ns == 1000'000'000'005);
        }
        return true;
    });
    BOOST_TEST(seen);
    BOOST_TEST((walked(root) == std::set<std::string>{"a", "a/b", "a/b/f.json"}));
    BOOST_TEST((walked(root, "a") == std::set<std::string>{"a/b", "a/b/f.json"}));
}

BOOST_AUTO_TEST_CASE(walk_never_follows_a_symlink_out_of_the_root)
{
    TempDir outside;
    write_file(outside / "secret", "x");
    TempDir dir;
    fs::create_directory(dir / "in");
    fs::create_directory_symlink(outside.path(), dir / "in/link");
    const auto root = TreeRoot::open(dir.path());
    std::set<std::string> paths;
    root.walk("", [&](const common::TreeEntry& entry) {
        paths.insert(entry.path);
        if (entry.path == "in/link") BOOST_TEST((entry.info.type == EntryType::symlink));
        return true;
    });
    BOOST_TEST((paths == std::set<std::string>{"in", "in/link"}));
    BOOST_CHECK_THROW(root.open_file("in/link/secret"), common::Error);
    BOOST_CHECK_THROW(root.remove_file("in/link/secret"), common::Error);
    BOOST_TEST(fs::exists(outside / "secret"));
}

BOOST_AUTO_TEST_CASE(paths_that_leave_the_root_are_refused)
{
    TempDir dir;
    const auto root = TreeRoot::open(dir.path());
    for (const auto* bad : {"../x", "/etc/passwd", "a/../../x", "a//b", "./a", ""}) {
        BOOST_TEST(!common::is_safe_relative(bad), bad);
        BOOST_CHECK_THROW(root.remove_file(bad), common::Error);
    }
}

BOOST_AUTO_TEST_CASE(symlinked_root_is_refused)
{
    TempDir dir;
    fs::create_directory(dir / "real");
    fs::create_directory_symlink(dir / "real", dir / "link");
    // With a trailing slash the kernel would follow it: however the root is written.
    for (const auto& written :
         {(dir / "link").string(), (dir / "link").string() + "/", (dir / "link").string() + "//"}) {
        try {
            TreeRoot::open(written);
            BOOST_FAIL("a symlinked root must not be followed: " << written);
        } catch (const common::Error& error) {
            BOOST_TEST(static_cast<int>(error.code()) == 66);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_fifo_where_a_file_was_is_refused_without_blocking)
{
    TempDir dir;
    BOOST_REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    const auto root = TreeRoot::open(dir.path());
    BOOST_CHECK_THROW(root.open_file("fifo"), common::Error);
    common::FolderCache folders(root);
    BOOST_CHECK_THROW(folders.open_file("fifo"), common::Error);
}

BOOST_AUTO_TEST_CASE(walk_memory_does_not_hold_the_listing)
{
    // A second walk of the same root sees everything again: each walk has its own position.
    TempDir dir;
    for (int i = 0; i < 50; ++i)
        write_file(dir / ("f" + std::to_string(i)), "x");
    const auto root = TreeRoot::open(dir.path());
    BOOST_TEST(walked(root).size() == 50u);
    BOOST_TEST(walked(root).size() == 50u);
}

BOOST_AUTO_TEST_CASE(root_lock_excludes_a_second_exclusive_holder)
{
    TempDir dir;
    const auto first = TreeRoot::open(dir.path());
    const auto second = TreeRoot::open(dir.path());
    BOOST_TEST(first.try_lock(true));
    BOOST_TEST(!second.try_lock(true));
    BOOST_TEST(!second.try_lock(false));
    BOOST_TEST(fs::is_empty(dir.path()));
}

BOOST_AUTO_TEST_CASE(folder_cache_stats_opens_and_removes_below_the_root)
{
    TempDir dir;
    fs::create_directories(dir / "a");
    write_file(dir / "a/one", "1");
    write_file(dir / "a/two", "22");
    const auto root = TreeRoot::open(dir.path());
    common::FolderCache folders(root);
    BOOST_TEST(folders.stat("a/two")->size == 2u);
    BOOST_TEST(!folders.stat("a/three").has_value());
    BOOST_TEST(folders.open_file("a/one").get() >= 0);
    folders.remove_file("a/one");
    BOOST_TEST(!fs::exists(dir / "a/one"));
    BOOST_TEST(fs::exists(dir / "a/two"));
}

BOOST_AUTO_TEST_CASE(a_new_file_goes_into_the_folder_it_was_opened_in_and_replaces_nothing)
{
    TempDir dir;
    fs::create_directories(dir / "spec");
    fs::create_directories(dir / "elsewhere");
    const auto root = TreeRoot::open(dir.path());
    const auto folder = std::make_shared<const common::UniqueFd>(root.open_directory("spec"));
    common::NewFileAt file(folder, "out.txt", 0600, dir / "spec");
    file.write("fresh");
    // The folder is moved and a link to another takes its name: the file follows the folder.
    fs::rename(dir / "spec", dir / "moved");
    fs::create_directory_symlink(dir / "elsewhere", dir / "spec");
    write_file(dir / "moved" / "taken.txt", "old");
    file.flush();

    file.rename_to("taken.txt");
    BOOST_TEST(!file.commit());
    file.rename_to("out.txt");
    BOOST_TEST(file.commit());

    BOOST_TEST(test_support::file_bytes(dir / "moved" / "out.txt") == "fresh");
    BOOST_TEST(test_support::file_bytes(dir / "moved" / "taken.txt") == "old");
    BOOST_TEST(fs::is_empty(dir / "elsewhere"));
    struct stat info {};
    BOOST_TEST_REQUIRE(::stat((dir / "moved" / "out.txt").c_str(), &info) == 0);
    BOOST_TEST((info.st_mode & 07777) == 0600u);
}

BOOST_AUTO_TEST_CASE(an_uncommitted_new_file_leaves_nothing_behind)
{
    TempDir dir;
    const auto root = TreeRoot::open(dir.path());
    {
        common::NewFileAt file(std::make_shared<const common::UniqueFd>(root.open_directory("")),
                               "out.txt", 0600, dir.path());
        file.write("lost");
    }
    BOOST_TEST(fs::is_empty(dir.path()));
}
