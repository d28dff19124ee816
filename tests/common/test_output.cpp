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
    // The value a\b"c: its backslash doubled, then the format's escapes.
    BOOST_TEST(common::escape_label_value("a\\b\"c") == "a\\\\\\\\b\\\"c");
    common::PrometheusText text;
    text.family("spec_hygiene_x_total", "counter", "Things\ncounted \\ here.");
    text.sample("spec_hygiene_x_total", {{"agent", "we\"ird"}}, 3);
    BOOST_TEST(text.text() == "# HELP spec_hygiene_x_total Things\\ncounted \\\\ here.\n"
                              "# TYPE spec_hygiene_x_total counter\n"
                              "spec_hygiene_x_total{agent=\"we\\\"ird\"} 3\n");
}

BOOST_AUTO_TEST_CASE(prometheus_label_values_show_other_bytes_as_visible_escapes)
{
    // In the file, each backslash of the value is doubled: \\x01 is the value \x01.
    BOOST_TEST(common::escape_label_value("a\xff\xc3"
                                          "b") == "a\\\\xff\\\\xc3b");
    BOOST_TEST(common::escape_label_value("a\rb\x1b[1m\x7f\n") ==
               "a\\\\x0db\\\\x1b[1m\\\\x7f\\\\x0a");
    BOOST_TEST(common::escape_label_value(std::string("a\0b", 3)) == "a\\\\x00b");
    // C1 controls (CSI is U+009B) too; other UTF-8 as it is.
    BOOST_TEST(common::escape_label_value("a\u009b2J") == "a\\\\xc2\\\\x9b2J");
    BOOST_TEST(common::escape_label_value("gr\u00fc\u00df \u00a0\U0001f600") ==
               "gr\u00fc\u00df \u00a0\U0001f600");
    // Overlong forms and surrogates are not UTF-8.
    BOOST_TEST(common::escape_label_value("\xc0\xaf\xed\xa0\x80") ==
               "\\\\xc0\\\\xaf\\\\xed\\\\xa0\\\\x80");
}

BOOST_AUTO_TEST_CASE(c1_controls_are_u0080_to_u009f_and_nothing_around_them)
{
    BOOST_TEST(common::c1_control_at("\u0080", 0));
    BOOST_TEST(common::c1_control_at("a\u009b", 1));
    BOOST_TEST(common::c1_control_at("\u009f", 0));
    BOOST_TEST(!common::c1_control_at("\u00a0", 0));  // no-break space
    BOOST_TEST(!common::c1_control_at("\u00e9", 0));
    BOOST_TEST(!common::c1_control_at("\u0100", 0));  // \xc4\x80
    BOOST_TEST(!common::c1_control_at("a\xc2", 1));   // cut short
    BOOST_TEST(!common::c1_control_at("\xc2\x7f", 0));
    BOOST_TEST(!common::c1_control_at("\u009b", 1));  // inside, not at its start
    BOOST_TEST(!common::c1_control_at("", 0));
}

BOOST_AUTO_TEST_CASE(prometheus_label_values_of_different_names_never_coincide)
{
    // Each pair once gave one series twice, which Prometheus refuses a whole file for.
    const std::vector<std::pair<std::string, std::string>> pairs{
        {"a\x01", "a\x02"},         {"a\xff", "a\xfe"},
        {"a\x01", "a\\x01"},        {"a\xff", "a\uFFFD"},
        {"a\\", "a\\\\"},           {"a\n", "a\\n"},
        {"a\u009b", "a\\xc2\\x9b"}, {std::string("a\0", 2), "a"},
    };
    for (const auto& [first, second] : pairs)
        BOOST_TEST(common::escape_label_value(first) != common::escape_label_value(second));
}

BOOST_AUTO_TEST_CASE(prometheus_values_are_spelled_as_the_format_expects)
{
    BOOST_TEST(common::prometheus_value(3) == "3");
    BOOST_TEST(common::prometheus_value(0.000412) == "0.000412");
    BOOST_TEST(common::prometheus_value(std::nan("")) == "NaN");
    BOOST_TEST(common::prometheus_value(std::numeric_limits<double>::infinity()) == "+Inf");
    BOOST_TEST(common::prometheus_value(-std::numeric_limits<double>::infinity()) == "-Inf");
}
