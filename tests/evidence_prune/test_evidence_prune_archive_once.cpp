#define BOOST_TEST_MODULE evidence_prune_archive_once
#include <boost/test/unit_test.hpp>

#include "evidence_tree.hpp"

namespace {

using namespace evidence_tree;

// Makes the files of `folder` unremovable (on) or removable again (off): read-only for a user,
// immutable (chattr +i) for root, whom permissions do not stop. False when that fails.
bool freeze(const fs::path& folder, bool on)
{
    if (::geteuid() != 0) return ::chmod(folder.c_str(), on ? 0555 : 0755) == 0;
    return test_support::run_process({"/usr/bin/chattr", on ? "+i" : "-i", folder.string()})
               .exit_code == 0;
}

// Whether this machine can make a file unremovable for this process.
boost::test_tools::assertion_result can_freeze(boost::unit_test::test_unit_id)
{
    TempDir dir;
    const auto folder = dir / "frozen";
    fs::create_directories(folder);
    write_file(folder / "probe", "x");
    const bool frozen = freeze(folder, true);
    const bool stuck = frozen && ::unlink((folder / "probe").c_str()) != 0;
    if (frozen) freeze(folder, false);
    boost::test_tools::assertion_result result(stuck);
    result.message() << "cannot make a file unremovable here (chattr +i or a read-only folder)";
    return result;
}

// Lifts the freeze however the test ends, so that the temporary folder can go.
struct Frozen {
    fs::path folder;
    explicit Frozen(fs::path path) : folder(std::move(path))
    {
        BOOST_REQUIRE(freeze(folder, true));
    }
    ~Frozen() { freeze(folder, false); }
};

std::size_t archives_in(const fs::path& root)
{
    std::size_t count = 0;
    for (const auto& entry : fs::directory_iterator(root / "archives"))
        count += entry.path().filename().string().ends_with(".tar.gz");
    return count;
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_runs_over_an_unremovable_file_leave_one_archive_and_say_so,
                     *boost::unit_test::label("unremovable") *
                         boost::unit_test::precondition(can_freeze))
{
    Tree tree;
    const std::string stuck = "consensus/SPEC-KIT-100/frozen/a.json";
    put(tree.root, stuck, 40, "held in place");
    put(tree.root, "consensus/SPEC-KIT-100/b.json", 40);
    {
        Frozen frozen(tree.root / "consensus/SPEC-KIT-100/frozen");
        const auto first = tree.run();
        BOOST_TEST(first.code == 1, first.err);
        BOOST_REQUIRE_EQUAL(first.of("archive").size(), 1u);
        const auto archive = only_archive(tree.root);
        BOOST_TEST(archive_contents(tree.root / archive).at(stuck) == "held in place");

        const auto second = tree.run(Mode::run, now_s + day);
        BOOST_TEST(second.code == 1, second.err);
        BOOST_TEST(second.of("archive").empty());
        BOOST_TEST(archives_in(tree.root) == 1u);
        BOOST_TEST(tree.query("SELECT count(*) FROM evidence_archives WHERE action = 'archive'") ==
                   1);
        // It says which archive holds the file and why the original is still there.
        const auto said = second.of("clean");
        BOOST_REQUIRE_EQUAL(said.size(), 1u);
        BOOST_TEST(said[0]["path"] == stuck);
        BOOST_TEST(said[0]["archive"] == archive);
        BOOST_TEST(said[0]["ok"] == false);
        BOOST_TEST(said[0]["error"].get<std::string>().find("not permitted") != std::string::npos,
                   said[0].dump());
        BOOST_TEST(file_bytes(tree.root / stuck) == "held in place");
    }
    // Once it can be removed, the next run removes it, still without a second archive.
    const auto third = tree.run(Mode::run, now_s + 2 * day);
    BOOST_TEST(third.code == 0, third.err);
    BOOST_TEST(third.of("clean").at(0)["ok"] == true);
    BOOST_TEST(!fs::exists(tree.root / stuck));
    BOOST_TEST(archives_in(tree.root) == 1u);
}

BOOST_AUTO_TEST_CASE(a_file_of_the_same_name_with_other_bytes_is_archived_again)
{
    Tree tree;
    const std::string name = "consensus/SPEC-KIT-100/a.json";
    put(tree.root, name, 40, "first");
    BOOST_TEST(tree.run().code == 0);
    const auto first = only_archive(tree.root);
    // The same name and size, other bytes, and an mtime older than the archive's newest member.
    put(tree.root, name, 41, "other");
    const auto result = tree.run(Mode::run, now_s + day);
    BOOST_TEST(result.code == 0, result.err);
    BOOST_TEST(result.of("clean").empty());
    BOOST_REQUIRE_EQUAL(result.of("archive").size(), 1u);
    const auto second = result.of("archive")[0]["archive"].get<std::string>();
    BOOST_TEST(second != first);
    BOOST_TEST(archive_contents(tree.root / first).at(name) == "first");
    BOOST_TEST(archive_contents(tree.root / second).at(name) == "other");
}

BOOST_AUTO_TEST_CASE(a_dry_run_says_the_copy_would_be_removed_and_no_archive_made)
{
    Tree tree;
    const std::string name = "consensus/SPEC-KIT-100/a.json";
    put(tree.root, name, 40, "kept bytes");
    put(tree.root, "consensus/SPEC-KIT-100/b.json", 40);
    BOOST_TEST(tree.run().code == 0);
    // A copy of an archived file put back, as a restore or a failed removal leaves it.
    put(tree.root, name, 40, "kept bytes");
    const auto before = snapshot(tree.root);
    const auto dry = tree.run(Mode::dry_run, now_s + day);
    BOOST_TEST(dry.code == 0, dry.err);
    BOOST_TEST(dry.of("archive").empty());
    BOOST_TEST(dry.of("clean").at(0)["path"] == name);
    BOOST_TEST((snapshot(tree.root) == before));
}
