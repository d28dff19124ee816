#define BOOST_TEST_MODULE common_json
#include <boost/test/unit_test.hpp>

#include "common/json.hpp"

#include <sstream>

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
