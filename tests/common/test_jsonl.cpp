#define BOOST_TEST_MODULE common_jsonl
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/jsonl.hpp"

#include <sstream>
#include <streambuf>

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
