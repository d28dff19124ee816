// Every tool: a command line it cannot parse is exit 64 with one line on stderr that names the
// flag and what was wrong with it, and nothing on stdout.
#define BOOST_TEST_MODULE test_cli_option_errors
#include <boost/test/unit_test.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace {

struct Tool {
    std::string name;
    std::string binary;
};

const std::vector<Tool> tools{{"db-vacuum", DB_VACUUM_BIN},
                              {"evidence-prune", EVIDENCE_PRUNE_BIN},
                              {"metrics-report", METRICS_REPORT_BIN},
                              {"spawn-agents", SPAWN_AGENTS_BIN}};

// Runs `binary` with `args` in an environment without a developer's configuration or database.
test_support::ProcessResult run(const std::string& binary, const std::vector<std::string>& args)
{
    const test_support::TempDir dir;
    std::vector<std::string> argv{binary};
    argv.insert(argv.end(), args.begin(), args.end());
    return test_support::run_process(argv, {},
                                     {{"XDG_CONFIG_HOME", (dir / "config").string()},
                                      {"XDG_STATE_HOME", (dir / "state").string()},
                                      {"SPEC_HYGIENE_DB", (dir / "none.db").string()},
                                      {"SPEC_HYGIENE_EVIDENCE", (dir / "evidence").string()}});
}

void require_usage_line(const test_support::ProcessResult& result, const std::string& line)
{
    BOOST_TEST(result.exit_code == 64, result.err);
    BOOST_TEST(result.err == line + "\n");
    BOOST_TEST(result.out.empty(), result.out);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_number_that_is_not_one_names_the_flag_on_one_line)
{
    require_usage_line(run(SPAWN_AGENTS_BIN, {"--jobs", "abc"}),
                       "spawn-agents: error: --jobs: 'abc' is not a number");
    require_usage_line(run(METRICS_REPORT_BIN, {"--max-p95-ms", "NaN"}),
                       "metrics-report: error: --max-p95-ms: 'NaN' is not a number");
    require_usage_line(run(METRICS_REPORT_BIN, {"--max-p95-ms=inf"}),
                       "metrics-report: error: --max-p95-ms: 'inf' is not a number");
    for (const auto& tool : tools) {
        BOOST_TEST_CONTEXT(tool.name)
        {
            require_usage_line(run(tool.binary, {"--db", "abc", "--busy-timeout", "abc"}),
                               tool.name + ": error: --busy-timeout: 'abc' is not a number");
        }
    }
}

BOOST_AUTO_TEST_CASE(a_fraction_or_an_overflow_for_a_whole_number_says_which)
{
    require_usage_line(run(SPAWN_AGENTS_BIN, {"--jobs=1.5"}),
                       "spawn-agents: error: --jobs: '1.5' is not a whole number");
    require_usage_line(run(DB_VACUUM_BIN, {"--busy-timeout", "99999999999999999999"}),
                       "db-vacuum: error: --busy-timeout: '99999999999999999999' is out of range");
}

BOOST_AUTO_TEST_CASE(an_unknown_flag_and_a_missing_value_are_named_on_one_line)
{
    for (const auto& tool : tools) {
        BOOST_TEST_CONTEXT(tool.name)
        {
            require_usage_line(run(tool.binary, {"--no-such-flag"}),
                               tool.name + ": error: --no-such-flag: no such option");
            require_usage_line(run(tool.binary, {"--db"}),
                               tool.name + ": error: --db: needs a value");
            require_usage_line(run(tool.binary, {"--json=3"}),
                               tool.name + ": error: --json: takes no value");
        }
    }
}

BOOST_AUTO_TEST_CASE(a_range_error_names_the_flag_on_one_line)
{
    require_usage_line(run(DB_VACUUM_BIN, {"--busy-timeout", "-1"}),
                       "db-vacuum: error: --busy-timeout: must be at least 0, not -1");
}

BOOST_AUTO_TEST_CASE(a_switch_given_a_value_is_refused_before_anything_is_opened)
{
    // "--full=false" was taken for --full: the database was vacuumed and switched to WAL.
    const std::map<std::string, std::vector<std::string>> cases{
        {DB_VACUUM_BIN, {"--full=false", "--migrate=false", "--no-record=0"}},
        {SPAWN_AGENTS_BIN, {"--sequential=false"}},
        {EVIDENCE_PRUNE_BIN, {"--dry-run=false"}},
        {METRICS_REPORT_BIN, {"--compare=false"}}};
    for (const auto& tool : tools) {
        for (const auto& word : cases.at(tool.binary)) {
            BOOST_TEST_CONTEXT(tool.name << " " << word)
            {
                const test_support::TempDir dir;
                const auto db = dir / "app.db";
                const auto result = run(tool.binary, {"--db", db.string(), word});
                const auto name = word.substr(2, word.find('=') - 2);
                require_usage_line(result, tool.name + ": error: --" + name + ": takes no value");
                BOOST_TEST(!std::filesystem::exists(db));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(an_empty_path_is_refused_naming_the_flag)
{
    // "--db ''" was exit 66 with "no database at" and nothing after it.
    for (const auto& tool : tools) {
        BOOST_TEST_CONTEXT(tool.name)
        {
            require_usage_line(run(tool.binary, {"--db", ""}),
                               tool.name + ": error: --db needs a path");
        }
    }
}
