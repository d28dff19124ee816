#define BOOST_TEST_MODULE common_jsonl
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/jsonl.hpp"

#include <sstream>
#include <streambuf>
#include <string>

namespace {

// A stream buffer that counts flushes, to see that every line is flushed.
class CountingBuffer : public std::stringbuf {
public:
    int syncs = 0;

protected:
    int sync() override
    {
        ++syncs;
        return std::stringbuf::sync();
    }
};

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

BOOST_AUTO_TEST_CASE(each_object_is_one_flushed_line)
{
    CountingBuffer buffer;
    std::ostream out(&buffer);
    common::JsonLinesWriter writer(out);

    writer.write(common::Json{{"event", "spawned"}, {"pid", 12}});
    BOOST_TEST(buffer.syncs == 1);
    writer.write(common::Json{{"event", "batch"}});

    BOOST_TEST(buffer.str() == "{\"event\":\"spawned\",\"pid\":12}\n{\"event\":\"batch\"}\n");
    BOOST_TEST(buffer.syncs == 2);
}

BOOST_AUTO_TEST_CASE(lines_written_together_are_flushed_once_by_the_last)
{
    CountingBuffer buffer;
    std::ostream out(&buffer);
    common::JsonLinesWriter writer(out);

    writer.write(common::Json{{"n", 1}}, false);
    writer.write(common::Json{{"n", 2}}, false);
    BOOST_TEST(buffer.syncs == 0);
    writer.write(common::Json{{"n", 3}});

    BOOST_TEST(buffer.str() == "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    BOOST_TEST(buffer.syncs == 1);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_replaced_not_thrown)
{
    std::ostringstream out;
    common::JsonLinesWriter writer(out);

    writer.write(common::Json{{"text", std::string("a\xFF")}});

    BOOST_TEST(out.str() == "{\"text\":\"a\xEF\xBF\xBD\"}\n");
}

BOOST_AUTO_TEST_CASE(a_failed_write_is_exit_74_naming_the_stream)
{
    std::ostringstream out;
    out.setstate(std::ios::badbit);
    common::JsonLinesWriter writer(out, "events.jsonl");

    try {
        writer.write(common::Json{{"event", "batch"}});
        BOOST_FAIL("no error");
    } catch (const common::Error& error) {
        BOOST_TEST(common::to_int(error.code()) == 74);
        BOOST_TEST(std::string(error.what()).find("events.jsonl") != std::string::npos);
    }
}

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
