#define BOOST_TEST_MODULE test_cli_man_pages
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "support/process.hpp"

#include <array>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

// A tool and its page, relative to the source tree. A new tool is one more line here.
struct ManPage {
    std::string binary;
    std::string page;
};

std::ostream& operator<<(std::ostream& out, const ManPage& page)
{
    return out << page.page;
}

const std::vector<ManPage> man_pages{
    {DB_VACUUM_BIN, "man/man1/db-vacuum.1"},
    {METRICS_REPORT_BIN, "man/man1/metrics-report.1"},
    {SPAWN_AGENTS_BIN, "man/man1/spawn-agents.1"},
    {EVIDENCE_PRUNE_BIN, "man/man1/evidence-prune.1"},
};

// Every page the project installs, tools' and others'.
const std::vector<std::string> all_pages{
    "man/man1/db-vacuum.1",    "man/man1/evidence-prune.1", "man/man1/metrics-report.1",
    "man/man1/spawn-agents.1", "man/man5/spec-hygiene.5",   "man/man7/spec-hygiene.7",
};

// Every exit status a tool may return; each page's EXIT STATUS section lists them.
constexpr std::array exit_codes{0, 64, 65, 66, 70, 73, 74, 75, 77, 78};

std::string source_path(const ManPage& page)
{
    return std::string(SOURCE_DIR) + "/" + page.page;
}

// The page as a terminal shows it, without the overstrike of bold and underline, on lines
// wide enough that no option is broken across two.
std::string rendered(const ManPage& page)
{
    const auto result =
        test_support::run_process({"mandoc", "-T", "ascii", "-O", "width=250", source_path(page)});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    std::string text;
    for (const char c : result.out) {
        if (c == '\b') {
            if (!text.empty()) text.pop_back();
        } else {
            text.push_back(c);
        }
    }
    return text;
}

// The page `path` (relative to the source tree) as mandoc renders it for `device` (ascii or
// utf8), without the overstrike of bold and underline.
std::string rendered_as(const std::string& path, const std::string& device)
{
    const auto result = test_support::run_process(
        {"mandoc", "-T", device, "-O", "width=250", std::string(SOURCE_DIR) + "/" + path});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    std::string text;
    for (std::size_t i = 0; i < result.out.size(); ++i) {
        if (result.out[i] != '\b') {
            text.push_back(result.out[i]);
            continue;
        }
        // Overstrike: "x BS x" or "_ BS x" (x may be a multi-byte character): keep the last.
        while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80)
            text.pop_back();
        if (!text.empty()) text.pop_back();
    }
    return text;
}

// The line where a quote opens while another one, opened with the same mark, is still open
// (mdoc's enclosure macros run to the end of the line: `.Ql a No or Ql b` renders as
// "‘a or ‘b’’"), or "" when there is none.
std::string nested_quote(const std::string& text, const std::string& open, const std::string& close)
{
    bool inside = false;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] == '\n') {
            line_start = i + 1;
        } else if (text.compare(i, open.size(), open) == 0) {
            if (inside) return text.substr(line_start, text.find('\n', i) - line_start);
            inside = true;
            i += open.size();
            continue;
        } else if (text.compare(i, close.size(), close) == 0) {
            inside = false;
            i += close.size();
            continue;
        }
        ++i;
    }
    return {};
}

// "--name" for every long option the binary's --help lists.
std::set<std::string> long_options(const ManPage& page)
{
    const auto result = test_support::run_process({page.binary, "--help"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    const std::regex option("--[a-z][a-z0-9-]*[a-z0-9]");
    std::set<std::string> options;
    for (auto it = std::sregex_iterator(result.out.begin(), result.out.end(), option);
         it != std::sregex_iterator(); ++it)
        options.insert(it->str());
    return options;
}

// The lines of the rendered section `name`, up to the next section heading.
std::string section(const std::string& text, const std::string& name)
{
    std::istringstream lines(text);
    std::string line;
    std::string body;
    bool inside = false;
    while (std::getline(lines, line)) {
        const bool heading = !line.empty() && line.front() != ' ' && line.front() != '\t';
        if (heading && inside) break;
        if (inside) body += line + '\n';
        if (heading && line == name) inside = true;
    }
    return body;
}

}  // namespace

BOOST_DATA_TEST_CASE(page_describes_every_long_option_of_help,
                     boost::unit_test::data::make(man_pages), page)
{
    const auto options = long_options(page);
    BOOST_TEST_REQUIRE(options.count("--help") == 1u);
    const auto text = rendered(page);
    for (const auto& option : options) {
        const std::regex whole(option + "(?![a-z0-9-])");
        BOOST_TEST(std::regex_search(text, whole), page << " does not mention " << option);
    }
}

BOOST_DATA_TEST_CASE(page_passes_mandoc_lint, boost::unit_test::data::make(all_pages), page)
{
    const auto result = test_support::run_process(
        {"mandoc", "-T", "lint", "-W", "warning", std::string(SOURCE_DIR) + "/" + page});

    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(result.out.empty(), result.out);
    BOOST_TEST(result.err.empty(), result.err);
}

BOOST_DATA_TEST_CASE(exit_status_section_lists_every_exit_code,
                     boost::unit_test::data::make(man_pages), page)
{
    const auto exit_status = section(rendered(page), "EXIT STATUS");
    BOOST_TEST_REQUIRE(!exit_status.empty(), page << " has no EXIT STATUS section");
    // Each code opens a line of the list and says when: "     65      Not a SQLite database, ..."
    std::set<std::string> listed;
    std::istringstream lines(exit_status);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string code;
        std::string when;
        if (words >> code >> when) listed.insert(code);
    }
    for (const int code : exit_codes)
        BOOST_TEST(listed.count(std::to_string(code)) == 1u,
                   page << " does not list exit " << code);
}

BOOST_DATA_TEST_CASE(page_renders_without_nested_quotes, boost::unit_test::data::make(all_pages),
                     page)
{
    const auto utf8 = rendered_as(page, "utf8");
    BOOST_TEST(nested_quote(utf8, "\u2018", "\u2019").empty(),
               page << ": " << nested_quote(utf8, "\u2018", "\u2019"));
    BOOST_TEST(nested_quote(utf8, "\u201c", "\u201d").empty(),
               page << ": " << nested_quote(utf8, "\u201c", "\u201d"));
    const auto ascii = rendered_as(page, "ascii");
    BOOST_TEST(nested_quote(ascii, "`", "'").empty(),
               page << ": " << nested_quote(ascii, "`", "'"));
}

BOOST_AUTO_TEST_CASE(nested_quote_finds_the_artefact)
{
    BOOST_TEST(nested_quote("x\nmode (\u2018parallel or \u2018sequential\u2019\u2019)\ny", "\u2018",
                            "\u2019") == "mode (\u2018parallel or \u2018sequential\u2019\u2019)");
    BOOST_TEST(nested_quote("(\u2018a\u2019 or \u2018b\u2019)", "\u2018", "\u2019").empty());
}

BOOST_AUTO_TEST_CASE(metrics_report_page_names_the_percentile_method)
{
    const auto text = rendered({METRICS_REPORT_BIN, "man/man1/metrics-report.1"});
    BOOST_TEST(text.find("nearest-rank method") != std::string::npos);
    BOOST_TEST(text.find("ceil(p / 100 x n)") != std::string::npos);
}
