#define BOOST_TEST_MODULE test_evidence_prune_output
#include <boost/test/unit_test.hpp>

#include "archiver.hpp"
#include "common/archive.hpp"
#include "common/digest.hpp"
#include "common/error.hpp"
#include "common/schema.hpp"
#include "common/sqlite.hpp"
#include "common/tree.hpp"
#include "evidence_prune.hpp"
#include "evidence_tree.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <map>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace evidence_tree;

}  // namespace

BOOST_AUTO_TEST_CASE(explain_gives_each_decision_its_reason)
{
    Tree tree;
    typical_tree(tree.root);
    auto options = tree.options(Mode::dry_run);
    options.explain = true;
    const auto result = tree.run(options);
    BOOST_TEST(result.err.find("SPEC-NEW-300: leave alone: active: modified 2d ago") !=
                   std::string::npos,
               result.err);
    BOOST_TEST(result.err.find("SPEC-KIT-100: keep consensus/SPEC-KIT-100/"
                               "SPEC-KIT-100_plan_synthesis_2.json: newest synthesis") !=
               std::string::npos);
    BOOST_TEST(result.err.find("SPEC-OPS-200: archive 2 files") != std::string::npos);
    BOOST_TEST(result.err.find("age>90d, archived first") != std::string::npos, result.err);
    BOOST_TEST(result.err.find("files past the purge age (90d) are archived first") !=
                   std::string::npos,
               result.err);
}

BOOST_AUTO_TEST_CASE(ages_are_common_durations_or_plain_days)
{
    using evidence_prune::parse_age;
    using std::chrono::seconds;
    BOOST_TEST(parse_age("30d", "--x").count() == seconds(30 * 86400).count());
    BOOST_TEST(parse_age("12h", "--x").count() == 12 * 3600);
    BOOST_TEST(parse_age("90m", "--x").count() == 90 * 60);
    BOOST_TEST(parse_age("45s", "--x").count() == 45);
    BOOST_TEST(parse_age("2w", "--x").count() == 14 * 86400);
    BOOST_TEST(parse_age("30", "--x").count() == 30 * 86400);
    BOOST_TEST(parse_age("0", "--x").count() == 0);
    for (const auto* bad : {"", "d", "3x", "-1d", "1.5d", "40000d", "99999999999999999999d"}) {
        try {
            parse_age(bad, "--purge-grace");
            BOOST_ERROR("accepted '" << bad << "'");
        } catch (const common::Error& error) {
            BOOST_TEST(static_cast<int>(error.code()) == 64);
            BOOST_TEST(std::string(error.what()).starts_with("--purge-grace: "), error.what());
        }
    }
}

namespace {

evidence_prune::Options parsed(std::vector<std::string> args, bool stdout_is_terminal)
{
    args.insert(args.begin(), "evidence-prune");
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    return evidence_prune::parse_options(
        argv, [](const char*) { return std::optional<std::string>(); }, stdout_is_terminal, false);
}

}  // namespace

BOOST_AUTO_TEST_CASE(text_on_a_terminal_json_when_piped_and_a_flag_forces_either)
{
    BOOST_TEST(parsed({"--evidence=/e", "--db=/d"}, true).shared.format == "text");
    BOOST_TEST(parsed({"--evidence=/e", "--db=/d"}, false).shared.format == "json");
    BOOST_TEST(parsed({"--evidence=/e", "--db=/d", "--json"}, true).shared.format == "json");
    BOOST_TEST(parsed({"--evidence=/e", "--db=/d", "--format", "text"}, false).shared.format ==
               "text");
    BOOST_CHECK_THROW(parsed({"--evidence=/e", "--format", "table"}, true), common::Error);
}

BOOST_AUTO_TEST_CASE(text_output_is_a_summary_for_people_and_explain_never_repeats_it)
{
    Tree tree;
    typical_tree(tree.root);
    auto options = tree.options(Mode::dry_run);
    options.shared.format = "text";
    options.explain = true;
    std::ostringstream out;
    std::ostringstream err;
    BOOST_TEST(evidence_prune::run(
                   options, [] { return at(now_s); }, out, err) == 0);
    const auto text = out.str();
    BOOST_TEST(text.find('{') == std::string::npos, text);
    BOOST_TEST(text.find("would archive   6 files into 2 archives") != std::string::npos, text);
    BOOST_TEST(text.find("left alone      SPEC-NEW-300") != std::string::npos, text);
    // The actions are said once, on stderr, as text.
    BOOST_TEST(err.str().find("SPEC-OPS-200: archive 2 files") != std::string::npos, err.str());
    BOOST_TEST(err.str().find('{') == std::string::npos, err.str());
    BOOST_TEST(text.find("SPEC-OPS-200: archive") == std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(a_plan_on_stdout_stays_json_on_a_terminal)
{
    Tree tree;
    typical_tree(tree.root);
    auto options = tree.options(Mode::plan);
    options.shared.format = "text";
    options.plan_file = "-";
    std::ostringstream out;
    std::ostringstream err;
    BOOST_TEST(evidence_prune::run(
                   options, [] { return at(now_s); }, out, err) == 0);
    std::istringstream lines(out.str());
    std::string first;
    std::getline(lines, first);
    BOOST_TEST(json::parse(first)["kind"] == "plan", first);
}
