#define BOOST_TEST_MODULE evidence_prune_flush
#include <boost/test/unit_test.hpp>

#include "archiver.hpp"
#include "evidence_tree.hpp"

#include <string>
#include <vector>

namespace {

using namespace evidence_tree;

const std::vector<std::string> specs = {"SPEC-KIT-100", "SPEC-KIT-101", "SPEC-KIT-102"};

}  // namespace

BOOST_AUTO_TEST_CASE(a_runs_archives_are_all_verified_and_flushed_before_any_original_goes)
{
    Tree tree;
    for (const auto& spec : specs)
        put(tree.root, "consensus/" + spec + "/" + spec + "_plan_code_1.json", 45, spec);
    auto options = tree.options();
    std::vector<std::string> events;
    std::size_t archives_at_first_record = 0;
    options.crash_hook = [&](std::string_view point) {
        if (point != "archive-written" && point != "archive-recorded" && point != "file-removed")
            return;
        if (point == "archive-recorded" && archives_at_first_record == 0)
            for (const auto& entry : fs::directory_iterator(tree.root / "archives"))
                archives_at_first_record += entry.path().extension() == ".gz";
        events.emplace_back(point);
    };
    const auto result = tree.run(options);
    BOOST_TEST(result.code == 0, result.err);
    const std::vector<std::string> expected = {
        "archive-written",  "archive-written",  "archive-written",
        "archive-recorded", "file-removed",     "archive-recorded",
        "file-removed",     "archive-recorded", "file-removed"};
    BOOST_TEST(events == expected, boost::test_tools::per_element());
    BOOST_TEST(archives_at_first_record == specs.size());
    // The output keeps the order of the specs, one ok line per archive.
    const auto archived = result.of("archive");
    BOOST_TEST_REQUIRE(archived.size() == specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
        BOOST_TEST(archived[i]["spec"] == specs[i]);
        BOOST_TEST(archived[i]["ok"] == true);
    }
    BOOST_TEST(tree.query("SELECT COUNT(*) FROM evidence_archives WHERE action = 'archive'") == 3);
    for (const auto& spec : specs)
        BOOST_TEST(!fs::exists(tree.root / "consensus" / spec));
}

BOOST_AUTO_TEST_CASE(an_archive_written_with_a_deferred_flush_reads_back_after_flush_archives)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/a.json", 45, "alpha");
    fs::create_directories(tree.root / "archives");
    const auto root = common::TreeRoot::open(tree.root);
    const auto info = root.stat("consensus/SPEC-KIT-100/a.json");
    BOOST_TEST_REQUIRE(info.has_value());
    const std::vector<evidence_prune::FileRecord> files = {{.path = "consensus/SPEC-KIT-100/a.json",
                                                            .size = info->size,
                                                            .mtime_ns = info->mtime_ns,
                                                            .inode = info->inode,
                                                            .mode = info->mode}};
    const auto written = evidence_prune::write_archive(root, "archives/SPEC-KIT-100-x.tar.gz",
                                                       files, evidence_prune::Flush::deferred);
    BOOST_TEST_REQUIRE(written.members.size() == 1u);
    evidence_prune::flush_archives(root, "archives");
    const auto verified =
        evidence_prune::verify_archive(root, "archives/SPEC-KIT-100-x.tar.gz", written.members);
    BOOST_TEST(verified.bytes > 0u);
    const auto members = archive_contents(tree.root / "archives/SPEC-KIT-100-x.tar.gz");
    BOOST_TEST(members.at("consensus/SPEC-KIT-100/a.json") == "alpha");
}
