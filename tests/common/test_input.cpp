#define BOOST_TEST_MODULE common_input
#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "common/input.hpp"
#include "support/temp_dir.hpp"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>

using common::FieldReader;
using test_support::TempDir;

namespace {

// The error `action` throws: its exit code and message (0 and "" when it throws none).
std::pair<int, std::string> error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const common::Error& error) {
        return {static_cast<int>(error.code()), error.what()};
    }
    return {0, ""};
}

std::string parse_error(const std::string& text)
{
    const auto [code, message] = error_of([&] { common::parse_json(text, "batch.json"); });
    BOOST_TEST(code == 65);
    return message;
}

bool is_printable_ascii(const std::string& text)
{
    return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// Runs `action` with `input` on standard input, through a pipe.
std::string with_stdin(const std::string& input, const std::function<std::string()>& action)
{
    int ends[2];
    BOOST_REQUIRE(::pipe(ends) == 0);
    BOOST_REQUIRE(::write(ends[1], input.data(), input.size()) ==
                  static_cast<ssize_t>(input.size()));
    ::close(ends[1]);
    const int saved = ::dup(STDIN_FILENO);
    ::dup2(ends[0], STDIN_FILENO);
    ::close(ends[0]);
    const auto result = action();
    ::dup2(saved, STDIN_FILENO);
    ::close(saved);
    return result;
}

const nlohmann::json batch = nlohmann::json::parse(R"({
  "spec_id": "SPEC-KIT-1", "jobs": 4, "bytes": 18446744073709551615, "run_id": null,
  "agents": [{"name": "a", "command": ["x"]}, {"name": "b", "command": "x", "cwd": "/"}]
})");

}  // namespace

// Parsing ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(malformed_json_is_exit_65_with_source_and_offset)
{
    const auto message = parse_error(R"({"spec_id": "SPEC-KIT-1", "agents": [})");
    BOOST_TEST(message.find("batch.json: malformed JSON at byte 38: ") == 0u, message);
}

BOOST_AUTO_TEST_CASE(reason_is_the_parser_s_wording_without_the_input)
{
    const auto message = parse_error(R"({"a": tru })");
    BOOST_TEST(message == "batch.json: malformed JSON at byte 10: syntax error while parsing "
                          "value - invalid literal");
}

BOOST_AUTO_TEST_CASE(reason_keeps_the_expected_token_and_drops_the_excerpt)
{
    // The excerpt is the half-read number "1."; what the parser expected follows it.
    const auto message = parse_error(R"({"a": [1.]})");
    BOOST_TEST(message.find("invalid number; expected digit after '.'") != std::string::npos,
               message);
    BOOST_TEST(message.find("last read") == std::string::npos, message);
    BOOST_TEST(message.find("1.") == std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_and_control_bytes_are_never_echoed)
{
    for (const std::string& text :
         {std::string("{\"a\": \"ok \xff\xfe\"}"), std::string("{\"a\": \"line\nbreak\"}"),
          std::string("{\"a\": \"\xe2\x82\"}")}) {
        const auto message = parse_error(text);
        BOOST_TEST(is_printable_ascii(message), message);
        BOOST_TEST(message.find("ok") == std::string::npos, message);
        BOOST_TEST(message.find("line") == std::string::npos, message);
    }
}

BOOST_AUTO_TEST_CASE(a_key_given_twice_is_refused_with_its_path)
{
    BOOST_TEST(parse_error(R"({"agents": [], "agents": [1]})") ==
               "batch.json: agents: key appears twice");
    BOOST_TEST(parse_error(R"({"agents": [{"name": "a"}, [], {"name": "b", "name": "c"}]})") ==
               "batch.json: agents[2].name: key appears twice");
    BOOST_TEST(parse_error("{\"x\": {\"a\\nb\": 1, \"a\\nb\": 2}}") ==
               "batch.json: x[\"a\\nb\"]: key appears twice");
}

BOOST_AUTO_TEST_CASE(nesting_to_the_limit_parses_and_one_level_more_is_65_naming_it)
{
    const auto nested = [](std::size_t depth) {
        return std::string(depth, '[') + std::string(depth, ']');
    };
    BOOST_TEST(common::parse_json(nested(common::max_json_depth), "stdin").is_array());
    BOOST_TEST(parse_error(nested(common::max_json_depth + 1)) ==
               "batch.json: JSON nested deeper than 512 levels");
}

BOOST_AUTO_TEST_CASE(two_hundred_thousand_open_brackets_are_refused_without_exhausting_memory)
{
    // Each open level used to keep its whole path: gigabytes for this document.
    BOOST_TEST(parse_error(std::string(200'000, '[')) ==
               "batch.json: JSON nested deeper than 512 levels");
    std::string objects;
    for (int i = 0; i < 200'000; ++i)
        objects += "{\"a\":";
    BOOST_TEST(parse_error(objects) == "batch.json: JSON nested deeper than 512 levels");
}

BOOST_AUTO_TEST_CASE(a_duplicate_key_deep_down_is_named_by_its_whole_path)
{
    BOOST_TEST(parse_error(R"({"a": [0, {"b": {"c": 1, "c": 2}}]})") ==
               "batch.json: a[1].b.c: key appears twice");
}

BOOST_AUTO_TEST_CASE(the_same_key_in_different_objects_is_fine)
{
    const auto value = common::parse_json(R"([{"a": 1}, {"a": 2, "b": {"a": 3}}])", "stdin");
    BOOST_TEST(value[1]["b"]["a"].get<int>() == 3);
}

BOOST_AUTO_TEST_CASE(a_number_beyond_double_is_65_not_echoed)
{
    const auto message = parse_error(R"({"a": 1e999})");
    BOOST_TEST(message == "batch.json: malformed JSON: a number is out of range");
}

BOOST_AUTO_TEST_CASE(valid_json_parses)
{
    const auto value = common::parse_json(R"({"a": [1, 2]})", "stdin");
    BOOST_TEST(value["a"][1].get<int>() == 2);
}

// Reading ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(read_input_reads_a_file)
{
    TempDir dir;
    test_support::write_file(dir / "b.json", "{}\n");
    BOOST_TEST(common::read_input((dir / "b.json").string()) == "{}\n");
}

BOOST_AUTO_TEST_CASE(read_input_dash_reads_standard_input)
{
    const auto content = with_stdin("{\"x\": 1}", [] { return common::read_input("-"); });
    BOOST_TEST(content == "{\"x\": 1}");
    BOOST_TEST(common::input_name("-") == "standard input");
}

BOOST_AUTO_TEST_CASE(read_input_missing_is_66_and_folder_is_65)
{
    TempDir dir;
    BOOST_TEST(error_of([&] { common::read_input((dir / "absent").string()); }).first == 66);
    BOOST_TEST(error_of([&] { common::read_input(dir.path().string()); }).first == 65);
}

// Fields -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fields_of_the_right_type_are_read)
{
    FieldReader top(batch, "", "batch.json");
    BOOST_TEST(top.required<std::string>("spec_id") == "SPEC-KIT-1");
    BOOST_TEST(top.required<int>("jobs") == 4);
    BOOST_TEST(top.required<std::uint64_t>("bytes") == 18446744073709551615ull);
    BOOST_TEST(!top.optional<std::string>("run_id").has_value());
    BOOST_TEST(!top.optional<double>("absent").has_value());
    const auto* agents = top.value("agents");
    BOOST_REQUIRE(agents != nullptr);
    FieldReader first((*agents)[0], common::element_path(top.path_of("agents"), 0), "batch.json");
    BOOST_TEST(first.required<std::vector<std::string>>("command") ==
               std::vector<std::string>{"x"});
}

BOOST_AUTO_TEST_CASE(a_wrong_type_names_the_json_path)
{
    FieldReader top(batch, "", "batch.json");
    const auto& agents = *top.value("agents");
    FieldReader second(agents[1], common::element_path("agents", 1), "batch.json");
    const auto [code, message] =
        error_of([&] { second.required<std::vector<std::string>>("command"); });
    BOOST_TEST(code == 65);
    BOOST_TEST(message == "batch.json: agents[1].command: expected an array of strings");
}

BOOST_AUTO_TEST_CASE(integers_are_range_checked_for_their_type)
{
    FieldReader top(batch, "", "batch.json");
    BOOST_TEST(error_of([&] { top.required<std::int64_t>("bytes"); }).second ==
               "batch.json: bytes: expected an integer from -9223372036854775808 to "
               "9223372036854775807");
    const auto negative = nlohmann::json::parse(R"({"n": -1, "f": 1.5})");
    FieldReader numbers(negative, "limits", "c.json");
    BOOST_TEST(error_of([&] { numbers.required<std::size_t>("n"); }).second ==
               "c.json: limits.n: expected an integer from 0 to 18446744073709551615");
    BOOST_TEST(error_of([&] { numbers.required<int>("f"); }).first == 65);
    BOOST_TEST(numbers.required<double>("n") == -1.0);
}

BOOST_AUTO_TEST_CASE(a_missing_required_field_is_named)
{
    FieldReader top(batch, "", "batch.json");
    BOOST_TEST(error_of([&] { top.required<std::string>("stage"); }).second ==
               "batch.json: stage: required field is missing");
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_refused_by_path)
{
    FieldReader top(batch, "", "batch.json");
    top.required<std::string>("spec_id");
    top.value("agents");
    top.optional<int>("jobs");
    top.optional<std::uint64_t>("bytes");
    BOOST_TEST(error_of([&] { top.reject_unknown(); }).second == "batch.json: run_id: unknown key");
    top.optional<std::string>("run_id");
    BOOST_TEST(error_of([&] { top.reject_unknown(); }).first == 0);

    FieldReader second((*top.value("agents"))[1], "agents[1]", "batch.json");
    second.value("name");
    second.value("command");
    BOOST_TEST(error_of([&] { second.reject_unknown(); }).second ==
               "batch.json: agents[1].cwd: unknown key");
}

BOOST_AUTO_TEST_CASE(nested_objects_and_non_objects)
{
    const auto document = nlohmann::json::parse(R"({"env": {"K": "v"}, "list": [1]})");
    FieldReader top(document, "", "in", common::Exit::config);
    BOOST_TEST(top.object("env").required<std::string>("K") == "v");
    BOOST_TEST((top.required<std::map<std::string, std::string>>("env").at("K")) == "v");
    const auto [code, message] = error_of([&] { top.object("list"); });
    BOOST_TEST(code == 78);
    BOOST_TEST(message == "in: list: expected an object");
    BOOST_TEST(error_of([&] { FieldReader((*top.value("list")), "list", "in"); }).second ==
               "in: list: expected an object");
}
