#define BOOST_TEST_MODULE common_config
#include <boost/test/unit_test.hpp>

#include "common/cli.hpp"
#include "common/config.hpp"
#include "common/error.hpp"
#include "support/temp_dir.hpp"

#include <array>
#include <map>

using test_support::TempDir;

namespace {

int exit_code_of(const std::function<void()>& work)
{
    try {
        work();
    } catch (const common::Error& error) {
        return static_cast<int>(error.code());
    }
    return 0;
}

// An environment made of a map, as the tools see it.
common::EnvLookup env_of(std::map<std::string, std::string> values)
{
    return [values = std::move(values)](const char* name) -> std::optional<std::string> {
        const auto found = values.find(name);
        if (found == values.end()) return std::nullopt;
        return found->second;
    };
}

// Parses argv the way a tool does and resolves the shared options.
common::SharedOptions resolve(std::vector<std::string> argv, const common::EnvLookup& env)
{
    cxxopts::Options cli("tool", "test");
    common::add_shared_options(cli, {.database = true, .evidence = true}, "json or text");
    argv.insert(argv.begin(), "tool");
    std::vector<char*> args;
    for (auto& arg : argv)
        args.push_back(arg.data());
    const auto result = common::parse_arguments(cli, args);
    constexpr std::array<std::string_view, 2> formats{"json", "text"};
    return common::resolve_shared_options(result, env, {.database = true, .evidence = true},
                                          formats, "json");
}

}  // namespace

BOOST_AUTO_TEST_CASE(unknown_key_is_exit_78)
{
    TempDir dir;
    test_support::write_file(dir / "c.json", R"({"db-vacuum": {"threshold_pagez": 5}})");
    BOOST_TEST(exit_code_of([&] { common::Config::load(dir / "c.json"); }) == 78);
}

BOOST_AUTO_TEST_CASE(unknown_section_is_exit_78)
{
    TempDir dir;
    test_support::write_file(dir / "c.json", R"({"db-vacum": {}})");
    BOOST_TEST(exit_code_of([&] { common::Config::load(dir / "c.json"); }) == 78);
}

BOOST_AUTO_TEST_CASE(wrong_type_is_exit_78)
{
    TempDir dir;
    test_support::write_file(dir / "c.json", R"({"db-vacuum": {"threshold_pages": "many"}})");
    try {
        common::Config::load(dir / "c.json");
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 78);
        BOOST_TEST(std::string(error.what()).find("db-vacuum.threshold_pages") !=
                   std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(malformed_config_is_exit_78_and_missing_config_is_66)
{
    TempDir dir;
    test_support::write_file(dir / "c.json", "{\"common\": ");
    BOOST_TEST(exit_code_of([&] { common::Config::load(dir / "c.json"); }) == 78);
    BOOST_TEST(exit_code_of([&] { common::Config::load(dir / "absent.json"); }) == 66);
}

BOOST_AUTO_TEST_CASE(a_config_nested_past_the_json_depth_limit_is_exit_78)
{
    TempDir dir;
    test_support::write_file(dir / "c.json", "{\"common\": " + std::string(100'000, '['));
    BOOST_TEST(exit_code_of([&] { common::Config::load(dir / "c.json"); }) == 78);
}

BOOST_AUTO_TEST_CASE(key_given_twice_is_exit_78)
{
    TempDir dir;
    test_support::write_file(dir / "c.json",
                             R"({"db-vacuum": {"threshold_pages": "x", "threshold_pages": 5}})");
    try {
        common::Config::load(dir / "c.json");
        BOOST_FAIL("expected an error");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 78);
        BOOST_TEST(std::string(error.what()).find("twice") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(config_goes_through_the_input_parser_with_exit_78)
{
    // The tools' input path: a clean reason without the file's bytes, duplicate keys named
    // by path, and a number beyond a double refused rather than an internal error.
    TempDir dir;
    // "CODE MESSAGE" of the error loading `text` throws.
    const auto message_of = [&](const std::string& text) -> std::string {
        test_support::write_file(dir / "c.json", text);
        try {
            common::Config::load(dir / "c.json");
        } catch (const common::Error& error) {
            return std::to_string(static_cast<int>(error.code())) + " " + error.what();
        }
        return "";
    };
    const auto file = (dir / "c.json").string();
    BOOST_TEST(message_of(R"({"common": tru})") ==
               "78 " + file +
                   ": malformed JSON at byte 15: syntax error while parsing value - "
                   "invalid literal");
    BOOST_TEST(message_of(R"({"common": {"db": "a", "db": "b"}})") ==
               "78 " + file + ": common.db: key appears twice");
    BOOST_TEST(message_of(R"({"db-vacuum": {"threshold_fraction": 1e999}})") ==
               "78 " + file + ": malformed JSON: a number is out of range");
}

BOOST_AUTO_TEST_CASE(directory_as_config_is_exit_78)
{
    TempDir dir;
    BOOST_TEST(exit_code_of([&] { common::Config::load(dir.path()); }) == 78);
}

BOOST_AUTO_TEST_CASE(valid_config_values_are_read)
{
    TempDir dir;
    test_support::write_file(
        dir / "c.json", R"({"common": {"db": "/x.db"}, "db-vacuum": {"threshold_fraction": 0.5}})");
    const auto config = common::Config::load(dir / "c.json");
    BOOST_TEST(config.text("common", "db").value_or("") == "/x.db");
    BOOST_TEST(config.number("db-vacuum", "threshold_fraction").value_or(0) == 0.5);
    BOOST_TEST(!config.integer("db-vacuum", "threshold_pages").has_value());
}

BOOST_AUTO_TEST_CASE(flag_beats_environment_beats_file_beats_default)
{
    TempDir dir;
    test_support::write_file(dir / "c.json",
                             R"({"common": {"db": "/from-file.db", "evidence": "/file-ev"}})");
    const auto config = (dir / "c.json").string();
    const auto state = env_of({{"HOME", "/home/u"}});
    const auto with_env = env_of({{"HOME", "/home/u"}, {"SPEC_HYGIENE_DB", "/from-env.db"}});

    BOOST_TEST(resolve({"--config", config, "--db", "/from-flag.db"}, with_env).database ==
               "/from-flag.db");
    BOOST_TEST(resolve({"--config", config}, with_env).database == "/from-env.db");
    BOOST_TEST(resolve({"--config", config}, state).database == "/from-file.db");
    BOOST_TEST(resolve({}, state).database == "/home/u/.local/state/spec-hygiene/hygiene.db");
    BOOST_TEST(resolve({}, state).evidence == "/home/u/.local/state/spec-hygiene/evidence");
    BOOST_TEST(resolve({"--config", config}, state).evidence == "/file-ev");
}

BOOST_AUTO_TEST_CASE(xdg_state_home_sets_the_default_locations)
{
    const auto env = env_of({{"HOME", "/home/u"}, {"XDG_STATE_HOME", "/state"}});
    BOOST_TEST(resolve({}, env).database == "/state/spec-hygiene/hygiene.db");
    BOOST_TEST(resolve({}, env).evidence == "/state/spec-hygiene/evidence");
}

BOOST_AUTO_TEST_CASE(default_config_file_is_read_from_xdg_config_home)
{
    TempDir dir;
    std::filesystem::create_directories(dir / "spec-hygiene");
    test_support::write_file(dir / "spec-hygiene" / "config.json",
                             R"({"common": {"db": "/cfg.db"}})");
    const auto env = env_of({{"HOME", "/home/u"}, {"XDG_CONFIG_HOME", dir.path().string()}});
    BOOST_TEST(resolve({}, env).database == "/cfg.db");
}

BOOST_AUTO_TEST_CASE(no_home_and_no_xdg_is_exit_78)
{
    BOOST_TEST(exit_code_of([] { resolve({}, env_of({})); }) == 78);
}

BOOST_AUTO_TEST_CASE(integer_beyond_int64_is_exit_78)
{
    TempDir dir;
    test_support::write_file(dir / "c.json",
                             R"({"db-vacuum": {"threshold_pages": 9223372036854775808}})");
    BOOST_TEST(exit_code_of([&] { common::Config::load(dir / "c.json"); }) == 78);
}

BOOST_AUTO_TEST_CASE(given_paths_need_no_home)
{
    const auto shared = resolve({"--db", "/x.db", "--evidence", "/ev"}, env_of({}));
    BOOST_TEST(shared.database == "/x.db");
    BOOST_TEST(shared.evidence == "/ev");
}

BOOST_AUTO_TEST_CASE(configured_busy_timeout_beyond_int_is_exit_78)
{
    TempDir dir;
    test_support::write_file(dir / "c.json", R"({"common": {"busy_timeout_ms": 4294967296}})");
    const auto env = env_of({{"HOME", "/home/u"}});
    BOOST_TEST(exit_code_of([&] { resolve({"--config", (dir / "c.json").string()}, env); }) == 78);
}

BOOST_AUTO_TEST_CASE(bad_usage_is_exit_64)
{
    const auto env = env_of({{"HOME", "/home/u"}});
    BOOST_TEST(exit_code_of([&] { resolve({"--no-such-flag"}, env); }) == 64);
    BOOST_TEST(exit_code_of([&] { resolve({"--format", "xml"}, env); }) == 64);
    BOOST_TEST(exit_code_of([&] { resolve({"stray"}, env); }) == 64);
}
