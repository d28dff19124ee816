#define BOOST_TEST_MODULE common_jsonl
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/jsonl.hpp"

#include <sstream>
#include <string>

namespace {

// The error next() throws on the first bad line of `text`, after reading the good ones.
common::Error first_error(const std::string& text)
{
    std::istringstream in(text);
    common::JsonLinesReader reader(in, "stdin");
    try {
        while (reader.next()) {
        }
    } catch (const common::Error& error) {
        return error;
    }
    BOOST_FAIL("no error for: " << text);
    return common::Error(common::Exit::ok, "");
}

}  // namespace

BOOST_AUTO_TEST_CASE(reads_one_object_per_line_and_skips_blank_lines)
{
    std::istringstream in("{\"a\":1}\n\n  \n{\"a\":2}\r\n");
    common::JsonLinesReader reader(in, "stdin");
    const auto first = reader.next();
    BOOST_TEST(first->at("a") == 1);
    BOOST_TEST(reader.line_number() == 1u);
    const auto second = reader.next();
    BOOST_TEST(second->at("a") == 2);
    BOOST_TEST(reader.line_number() == 4u);
    BOOST_TEST(!reader.next().has_value());
}

BOOST_AUTO_TEST_CASE(a_malformed_line_is_exit_65_naming_its_line_number)
{
    const auto error = first_error("{\"a\":1}\n{\"a\":2}\n{\"a\":\n{\"a\":4}\n");
    BOOST_TEST((error.code() == common::Exit::data));
    BOOST_TEST(std::string(error.what()).find("stdin line 3: malformed JSON") == 0u, error.what());
}

BOOST_AUTO_TEST_CASE(a_line_that_is_not_an_object_is_exit_65)
{
    const auto error = first_error("{}\n[1,2]\n");
    BOOST_TEST((error.code() == common::Exit::data));
    BOOST_TEST(std::string(error.what()) == "stdin line 2: expected a JSON object, got array");
}

BOOST_AUTO_TEST_CASE(an_empty_stream_has_no_objects)
{
    std::istringstream in("");
    common::JsonLinesReader reader(in, "stdin");
    BOOST_TEST(!reader.next().has_value());
    BOOST_TEST(reader.line_number() == 0u);
}
