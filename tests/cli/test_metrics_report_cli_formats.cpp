#define BOOST_TEST_MODULE test_cli_metrics_report_formats
#include <boost/test/unit_test.hpp>

#include "common/output.hpp"
#include "metrics_report_cli.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

using namespace metrics_report_cli;

namespace {

// Records one batch whose agents have the given names.
void record_names(const Sandbox& sandbox, const std::vector<std::string>& names)
{
    auto db = test_support::open_spawn_database(sandbox.db);
    test_support::RunRecorder recorder(db);
    BatchRun batch;
    for (const auto& name : names)
        batch.agents.push_back(AgentRun{.agent = name});
    recorder.add(batch);
}

bool cmark_gfm_available()
{
    return test_support::run_process({"sh", "-c", "command -v cmark-gfm"}).exit_code == 0;
}

boost::test_tools::assertion_result cmark_gfm_installed(boost::unit_test::test_unit_id)
{
    boost::test_tools::assertion_result result(cmark_gfm_available());
    result.message() << "cmark-gfm is not installed (Debian package cmark-gfm): skipped";
    return result;
}

// The text of the first cell of each body row of the first table in `html`, entities decoded.
std::vector<std::string> first_cells(const std::string& html)
{
    std::vector<std::string> cells;
    const auto body = html.find("<tbody>");
    for (auto at = html.find("<tr>", body);
         at != std::string::npos && body != std::string::npos && at < html.find("</tbody>", body);
         at = html.find("<tr>", at + 1)) {
        const auto open = html.find('>', html.find("<td", at)) + 1;
        auto cell = html.substr(open, html.find("</td>", open) - open);
        for (const auto& [entity, c] : {std::pair{"&lt;", "<"}, std::pair{"&gt;", ">"},
                                        std::pair{"&quot;", "\""}, std::pair{"&amp;", "&"}})
            for (auto pos = cell.find(entity); pos != std::string::npos;
                 pos = cell.find(entity, pos + 1))
                cell.replace(pos, std::string_view(entity).size(), c);
        cells.push_back(cell);
    }
    return cells;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_table_shows_control_characters_escaped_never_raw)
{
    Sandbox sandbox;
    record_names(sandbox, {"red\x1b[31m", "two\nlines", "bell\x07",
                           "csi\xc2\x9b"
                           "2J"});
    const auto result = sandbox.report({"--format", "table"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(result.out.find('\x1b') == std::string::npos);
    BOOST_TEST(result.out.find('\x07') == std::string::npos);
    BOOST_TEST(result.out.find("\xc2\x9b") == std::string::npos);
    for (const auto* shown : {"red\\x1b[31m", "two\\nlines", "bell\\x07", "csi\\u009b2J"})
        BOOST_TEST(result.out.find(shown) != std::string::npos, shown);
}

BOOST_AUTO_TEST_CASE(the_overall_row_is_told_from_an_agent_named_all)
{
    Sandbox sandbox;
    record_names(sandbox, {"(all)", "gemini"});
    const auto csv = sandbox.report({"--format", "csv"});
    BOOST_TEST(csv.out.find("\r\nagent,(all),1,") != std::string::npos, csv.out);
    BOOST_TEST(csv.out.find("\r\noverall,,2,") != std::string::npos, csv.out);
    const auto json = parse_report(sandbox.report({"--json"}));
    BOOST_TEST(json["overall"]["count"] == 2);
    BOOST_TEST(json["agents"][0]["agent"] == "(all)");
    BOOST_TEST(json["agents"][0]["count"] == 1);
    // In the table the overall row comes after a rule, which no agent's row can be.
    const auto table = sandbox.report({"--format", "table"}).out;
    const auto rule = table.find("\n---");
    BOOST_TEST_REQUIRE(rule != std::string::npos, table);
    BOOST_TEST(table.find("(all)", table.find("gemini")) > rule, table);
    BOOST_TEST(table.find("(all)") < rule, table);
}

BOOST_AUTO_TEST_CASE(csv_has_crlf_line_ends_and_no_formula_cells)
{
    Sandbox sandbox;
    record_names(sandbox, {"=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "a,b"});
    const auto csv = sandbox.report({"--format", "csv"}).out;
    BOOST_TEST(csv.find('\n') == csv.find("\r\n") + 1);
    BOOST_TEST(csv.size() >= 2u);
    BOOST_TEST(csv.substr(csv.size() - 2) == "\r\n");
    for (const auto* cell : {"agent,\"'=HYPERLINK(\"\"http://x\"\")\",", "agent,'+1,", "agent,'-2,",
                             "agent,'@SUM(A1),", "agent,\"a,b\","})
        BOOST_TEST(csv.find(cell) != std::string::npos, cell);
}

BOOST_AUTO_TEST_CASE(markdown_cells_render_as_their_text_in_cmark_gfm,
                     *boost::unit_test::precondition(cmark_gfm_installed))
{
    Sandbox sandbox;
    std::vector<std::string> names;
    for (char c = '!'; c <= '~'; ++c)
        if (std::ispunct(static_cast<unsigned char>(c)) != 0)
            names.push_back(std::string("a") + c + c + "b" + c);
    names.insert(names.end(), {"*em* _em_ `code` ~~del~~ <b>x</b> [l](u) ![i](u) &amp; \\|",
                               "**bold**", "x\ny\x1b"});
    record_names(sandbox, names);
    const auto markdown = sandbox.report({"--format", "markdown"});
    BOOST_TEST_REQUIRE(markdown.exit_code == 0, markdown.err);
    const auto html = test_support::run_process({"cmark-gfm", "--extension", "table", "--extension",
                                                 "strikethrough", "--extension", "autolink",
                                                 "--extension", "tagfilter", "-t", "html"},
                                                markdown.out);
    BOOST_TEST_REQUIRE(html.exit_code == 0, html.err);
    std::vector<std::string> expected;
    for (const auto& name : names)
        expected.push_back(common::printable(name));
    std::sort(expected.begin(), expected.end());
    auto cells = first_cells(html.out);
    BOOST_TEST_REQUIRE(!cells.empty(), html.out);
    // The overall row, set in bold after the agents.
    BOOST_TEST(cells.back() == "<strong>(all)</strong>");
    cells.pop_back();
    BOOST_TEST(cells == expected, boost::test_tools::per_element());
}
