#define BOOST_TEST_MODULE common_json
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/json.hpp"

#include <sstream>

BOOST_AUTO_TEST_CASE(malformed_json_is_exit_65_with_source_and_offset)
{
    try {
        common::parse_json(R"({"spec_id": "SPEC-KIT-1", "agents": [})", "batch.json");
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        const std::string message = error.what();
        BOOST_TEST(static_cast<int>(error.code()) == 65);
        BOOST_TEST(message.find("batch.json") != std::string::npos);
        BOOST_TEST(message.find("at byte 38") != std::string::npos, message);
    }
}

BOOST_AUTO_TEST_CASE(valid_json_parses)
{
    const auto value = common::parse_json(R"({"a": [1, 2]})", "stdin");
    BOOST_TEST(value["a"][1].get<int>() == 2);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_replaced_not_thrown)
{
    const std::string broken = "ok \xff\xfe end";
    BOOST_TEST(common::sanitize_utf8(broken) == "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
    std::ostringstream out;
    common::write_json_line(out, {{"response", broken}});
    BOOST_TEST(out.str() == "{\"response\":\"ok \xEF\xBF\xBD\xEF\xBF\xBD end\"}\n");
}

BOOST_AUTO_TEST_CASE(json_lines_are_compact_one_per_line_in_written_order)
{
    std::ostringstream out;
    common::write_json_line(out, {{"event", "spawned"}, {"agent", "gemini"}});
    common::write_json_line(out, {{"event", "batch"}});
    BOOST_TEST(out.str() ==
               "{\"event\":\"spawned\",\"agent\":\"gemini\"}\n{\"event\":\"batch\"}\n");
}
