#define BOOST_TEST_MODULE evidence_prune_flush
#include <boost/test/unit_test.hpp>

#include "archiver.hpp"
#include "evidence_tree.hpp"

#include <fmt/format.h>

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
    // Removals start once every archive of the batch is recorded.
    const std::vector<std::string> expected = {
        "archive-written",  "archive-written",  "archive-written",
        "archive-recorded", "archive-recorded", "archive-recorded",
        "file-removed",     "file-removed",     "file-removed"};
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

BOOST_AUTO_TEST_CASE(forty_specs_in_two_flushes_remove_and_count_every_original)
{
    // 32 archives go in one flush: the first batch's originals are removed on other threads
    // while the next specs are archived, and every removal is counted before the summary.
    Tree tree;
    std::vector<std::string> many;
    for (int i = 0; i < 40; ++i) {
        many.push_back(fmt::format("SPEC-KIT-{}", 200 + i));
        for (int file = 0; file < 3; ++file)
            put(tree.root, fmt::format("consensus/{0}/{0}_plan_code_{1}.json", many.back(), file),
                45);
    }
    const auto result = tree.run();
    BOOST_TEST(result.code == 0, result.err);
    BOOST_TEST(result.summary["files_archived"] == 120);
    BOOST_TEST(result.summary["archives_made"] == 40);
    const auto archived = result.of("archive");
    BOOST_TEST_REQUIRE(archived.size() == many.size());
    for (std::size_t i = 0; i < many.size(); ++i) {
        BOOST_TEST(archived[i]["spec"] == many[i]);
        BOOST_TEST(archived[i]["ok"] == true);
        BOOST_TEST(!fs::exists(tree.root / "consensus" / many[i]));
    }
    BOOST_TEST(tree.query("SELECT COUNT(*) FROM evidence_archives WHERE action = 'archive'") == 40);
}

BOOST_AUTO_TEST_CASE(a_file_rewritten_after_its_archive_was_written_is_kept_and_reported)
{
    Tree tree;
    put(tree.root, "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_code_1.json", 45, "first");
    put(tree.root, "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_code_2.json", 45, "second");
    auto options = tree.options();
    const auto rewritten = tree.root / "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_code_2.json";
    options.crash_hook = [&](std::string_view point) {
        if (point == "archive-written") write_file(rewritten, "second, rewritten");
    };
    const auto result = tree.run(options);
    BOOST_TEST(result.code == 1, result.err);
    BOOST_TEST(file_bytes(rewritten) == "second, rewritten");
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_code_1.json"));
    BOOST_TEST(result.summary["files_archived"] == 1);
    const auto skipped = result.of("skip");
    BOOST_TEST_REQUIRE(skipped.size() == 1u);
    BOOST_TEST(skipped[0]["path"] == "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_code_2.json");
    BOOST_TEST(skipped[0]["reason"].get<std::string>().find("changed after it was archived") !=
               std::string::npos);
    // The archive holds the content it was written with.
    const auto members = archive_contents(tree.root / archive_of(tree.root, "SPEC-KIT-100"));
    BOOST_TEST(members.at("consensus/SPEC-KIT-100/SPEC-KIT-100_plan_code_2.json") == "second");
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
