#define BOOST_TEST_MODULE common_output
#include <boost/test/unit_test.hpp>

#include "common/output.hpp"

#include <cmath>
#include <limits>

namespace {

common::Table sample_table()
{
    common::Table table;
    table.header = {"agent", "count"};
    table.numeric = {false, true};
    table.add_row({"gemini", "7"});
    table.add_row({"claude-code", "1234"});
    return table;
}

}  // namespace

BOOST_AUTO_TEST_CASE(text_table_aligns_columns_and_right_aligns_numbers)
{
    BOOST_TEST(common::render_text(sample_table()) == "agent        count\n"
                                                      "gemini           7\n"
                                                      "claude-code   1234\n");
}

BOOST_AUTO_TEST_CASE(text_table_counts_utf8_characters_not_bytes)
{
    common::Table table;
    table.header = {"name", "x"};
    table.add_row({"µs", "1"});
    BOOST_TEST(common::render_text(table) == "name  x\nµs    1\n");
}

BOOST_AUTO_TEST_CASE(markdown_table_escapes_pipes_and_aligns_numbers_right)
{
    auto table = sample_table();
    table.add_row({"a|b", "2"});
    BOOST_TEST(common::render_markdown(table) == "| agent | count |\n"
                                                 "|---|---:|\n"
                                                 "| gemini | 7 |\n"
                                                 "| claude-code | 1234 |\n"
                                                 "| a\\|b | 2 |\n");
}

BOOST_AUTO_TEST_CASE(csv_quotes_cells_with_commas_quotes_and_newlines)
{
    BOOST_TEST(common::csv_cell("plain") == "plain");
    BOOST_TEST(common::csv_cell("a,b") == "\"a,b\"");
    BOOST_TEST(common::csv_cell("say \"hi\"") == "\"say \"\"hi\"\"\"");
    BOOST_TEST(common::csv_cell("two\nlines") == "\"two\nlines\"");
    BOOST_TEST(common::render_csv(sample_table()) ==
               "agent,count\r\ngemini,7\r\nclaude-code,1234\r\n");
}

BOOST_AUTO_TEST_CASE(prometheus_label_values_are_escaped)
{
    BOOST_TEST(common::escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
    common::PrometheusText text;
    text.family("spec_hygiene_x_total", "counter", "Things\ncounted \\ here.");
    text.sample("spec_hygiene_x_total", {{"agent", "we\"ird"}}, 3);
    BOOST_TEST(text.text() == "# HELP spec_hygiene_x_total Things\\ncounted \\\\ here.\n"
                              "# TYPE spec_hygiene_x_total counter\n"
                              "spec_hygiene_x_total{agent=\"we\\\"ird\"} 3\n");
}

BOOST_AUTO_TEST_CASE(prometheus_label_values_are_valid_utf8_without_control_characters)
{
    BOOST_TEST(common::escape_label_value("a\xff\xc3"
                                          "b") == "a\uFFFD\uFFFDb");
    BOOST_TEST(common::escape_label_value("a\rb\x1b[1m\x7f\t") == "a\uFFFDb\uFFFD[1m\uFFFD\uFFFD");
    BOOST_TEST(common::escape_label_value(std::string("a\0b", 3)) == "a\uFFFDb");
    BOOST_TEST(common::escape_label_value("gr\u00fc\u00df") == "gr\u00fc\u00df");
}

BOOST_AUTO_TEST_CASE(prometheus_values_are_spelled_as_the_format_expects)
{
    BOOST_TEST(common::prometheus_value(3) == "3");
    BOOST_TEST(common::prometheus_value(0.000412) == "0.000412");
    BOOST_TEST(common::prometheus_value(std::nan("")) == "NaN");
    BOOST_TEST(common::prometheus_value(std::numeric_limits<double>::infinity()) == "+Inf");
    BOOST_TEST(common::prometheus_value(-std::numeric_limits<double>::infinity()) == "-Inf");
}
