#define BOOST_TEST_MODULE test_cli_evidence_prune_roots
#include <boost/test/unit_test.hpp>

#include "evidence_prune_cli.hpp"

using namespace evidence_prune_cli;

namespace {

// A sandbox with several evidence roots, each with one old spec, and evidence-prune run with
// the roots only as `args` (or the configuration) name them.
struct Roots {
    test_support::TempDir dir;
    fs::path db = dir / "hygiene.db";

    Roots()
    {
        fs::create_directories(dir / "config/spec-hygiene");
        for (const auto* name : {"a", "b"}) {
            const auto file = root(name) / "consensus" / spec(name) / "old.json";
            fs::create_directories(file.parent_path());
            write_file(file, std::string("evidence of ") + name);
            const auto old = std::time(nullptr) - 100 * 86400;
            const timespec times[2] = {{old, 0}, {old, 0}};
            BOOST_REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
        }
    }

    fs::path root(const std::string& name) const { return dir / "docs" / name / "evidence"; }
    static std::string spec(const std::string& name)
    {
        return name == "a" ? "SPEC-KIT-045-mini" : "SPEC-KIT-933";
    }
    bool archived(const std::string& name) const
    {
        return !fs::exists(root(name) / "consensus" / spec(name) / "old.json") &&
               fs::exists(root(name) / "archives");
    }
    void configure(const std::string& text) const
    {
        write_file(dir / "config/spec-hygiene/config.json", text);
    }
    std::int64_t runs() const
    {
        return common::Database::open(db, {.mode = common::OpenMode::read_only})
            .query_int("SELECT count(*) FROM maintenance_runs WHERE tool = 'evidence-prune'");
    }

    ProcessResult prune(std::vector<std::string> args) const
    {
        std::vector<std::string> argv{EVIDENCE_PRUNE_BIN, "--db", db.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return test_support::run_process(argv, {}, test_support::isolated_environment(dir));
    }
};

// The summary lines of a multi-root run, by root.
std::map<std::string, json> summaries(const ProcessResult& result)
{
    std::map<std::string, json> found;
    for (const auto& line : lines_of(result))
        if (line.value("tool", "") == "evidence-prune") found[line["root"]] = line;
    return found;
}

}  // namespace

BOOST_AUTO_TEST_CASE(evidence_repeats_and_each_root_is_pruned_with_its_own_summary_and_row)
{
    Roots roots;
    const auto result = roots.prune(
        {"--evidence", roots.root("a").string(), "--evidence=" + roots.root("b").string()});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(roots.archived("a"));
    BOOST_TEST(roots.archived("b"));
    const auto found = summaries(result);
    BOOST_TEST(found.size() == 2u);
    BOOST_TEST(found.at(roots.root("a").string())["files_archived"] == 1);
    BOOST_TEST(found.at(roots.root("b").string())["files_archived"] == 1);
    BOOST_TEST(roots.runs() == 2);
}

BOOST_AUTO_TEST_CASE(a_root_that_fails_is_reported_and_the_others_are_pruned_with_exit_1)
{
    Roots roots;
    // One root held by another instance, one missing: the third is still pruned.
    const int fd = ::open(roots.root("a").c_str(), O_RDONLY | O_DIRECTORY);
    BOOST_REQUIRE(::flock(fd, LOCK_EX) == 0);
    const auto missing = roots.dir / "docs/gone/evidence";
    const auto result = roots.prune({"--evidence", roots.root("a").string(), "--evidence",
                                     missing.string(), "--evidence", roots.root("b").string()});
    ::close(fd);
    BOOST_TEST(result.exit_code == 1, result.err);
    BOOST_TEST(!roots.archived("a"));
    BOOST_TEST(roots.archived("b"));
    const auto found = summaries(result);
    BOOST_TEST(found.at(roots.root("a").string())["exit_status"] == 75);
    BOOST_TEST(found.at(missing.string())["exit_status"] == 66);
    BOOST_TEST(found.at(roots.root("b").string())["files_archived"] == 1);
    BOOST_TEST(result.err.find(roots.root("a").string() + ": another evidence-prune") !=
                   std::string::npos,
               result.err);
    BOOST_TEST(result.err.find(missing.string()) != std::string::npos, result.err);
}

BOOST_AUTO_TEST_CASE(the_configuration_lists_the_roots_and_a_flag_overrides_the_list)
{
    Roots roots;
    roots.configure(fmt::format(
        R"({{"evidence-prune": {{"evidence": [{}, {}], "purge_grace_days": 3, "stale_days": 2,
            "rows_of_others": false}}}})",
        json(roots.root("a").string()).dump(), json(roots.root("b").string()).dump()));
    const auto one = roots.prune({"--evidence", roots.root("b").string()});
    BOOST_TEST(one.exit_code == 0, one.err);
    BOOST_TEST(!roots.archived("a"));
    BOOST_TEST(roots.archived("b"));
    const auto both = roots.prune({});
    BOOST_TEST(both.exit_code == 0, both.err);
    BOOST_TEST(roots.archived("a"));
    BOOST_TEST(summaries(both).size() == 2u);
    // One root may be a plain string.
    roots.configure(fmt::format(R"({{"evidence-prune": {{"evidence": {}}}}})",
                                json(roots.root("a").string()).dump()));
    const auto single = roots.prune({"--dry-run"});
    BOOST_TEST(single.exit_code == 0, single.err);
    BOOST_TEST(summaries(single).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_wrong_list_of_roots_is_78_and_one_root_actions_refuse_several_with_64)
{
    Roots roots;
    for (const auto* bad : {"[]", "[1]", "7", R"(["a", null])"}) {
        roots.configure(fmt::format(R"({{"evidence-prune": {{"evidence": {}}}}})", bad));
        const auto result = roots.prune({"--dry-run"});
        BOOST_TEST(result.exit_code == 78, bad << ": " << result.err);
        BOOST_TEST(result.err.find("evidence-prune.evidence") != std::string::npos, result.err);
    }
    fs::remove(roots.dir / "config/spec-hygiene/config.json");
    for (const auto* action : {"--restore=x.tar.gz", "--plan=-", "--apply=plan.jsonl"}) {
        const auto result = roots.prune({action, "--evidence", roots.root("a").string(),
                                         "--evidence", roots.root("b").string()});
        BOOST_TEST(result.exit_code == 64, action << ": " << result.err);
    }
    BOOST_TEST(!roots.archived("a"));
    BOOST_TEST(!roots.archived("b"));
    BOOST_TEST(!fs::exists(roots.db));
}

namespace {

boost::test_tools::assertion_result has_script(boost::unit_test::test_unit_id)
{
    boost::test_tools::assertion_result result(::access("/usr/bin/script", X_OK) == 0);
    result.message() << "no /usr/bin/script (util-linux) to give the tool a terminal";
    return result;
}

std::string quoted(const std::string& text)
{
    std::string out = "'";
    for (const char c : text)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

}  // namespace

BOOST_AUTO_TEST_CASE(on_a_terminal_the_report_is_text_and_json_only_when_asked,
                     *boost::unit_test::precondition(has_script))
{
    Sandbox box(archivable());
    const auto before = snapshot(box.root);
    const auto on_terminal = [&](const std::string& extra) {
        const auto command =
            fmt::format("{} --evidence {} --db {} --dry-run {}", quoted(EVIDENCE_PRUNE_BIN),
                        quoted(box.root.string()), quoted(box.db.string()), extra);
        return test_support::run_process({"/usr/bin/script", "-qec", command, "/dev/null"}, {},
                                         test_support::isolated_environment(box.dir));
    };
    const auto text = on_terminal("");
    BOOST_TEST(text.exit_code == 0, text.out);
    BOOST_TEST(text.out.find("would archive") != std::string::npos, text.out);
    BOOST_TEST(text.out.find("{\"") == std::string::npos, text.out);
    const auto forced = on_terminal("--json");
    BOOST_TEST(forced.exit_code == 0, forced.out);
    BOOST_TEST(forced.out.find("{\"tool\":\"evidence-prune\"") != std::string::npos, forced.out);
    BOOST_TEST(forced.out.find("would archive") == std::string::npos, forced.out);
    BOOST_TEST((snapshot(box.root) == before));
}
