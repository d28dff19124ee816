// db-vacuum CLI: usage, configuration, output and where the database is.
#define BOOST_TEST_MODULE test_cli_db_vacuum_options
#include <boost/test/unit_test.hpp>

#include "db_vacuum_cli.hpp"

#include <unistd.h>

using namespace db_vacuum_cli;

BOOST_FIXTURE_TEST_SUITE(db_vacuum_cli_options, Sandbox)

// --- usage --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unknown_option_is_a_usage_error)
{
    require_usage_error(vacuum({"--db", (dir / "x.db").string(), "--frobnicate"}));
}

BOOST_AUTO_TEST_CASE(two_actions_at_once_are_a_usage_error)
{
    const auto db = make_database("two.db");
    const auto bytes = file_bytes(db);

    require_usage_error(vacuum({"--db", db.string(), "--full", "--migrate"}));
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(unknown_format_is_a_usage_error)
{
    require_usage_error(vacuum({"--db", (dir / "x.db").string(), "--format", "xml"}));
}

BOOST_AUTO_TEST_CASE(bad_option_values_are_usage_errors)
{
    const auto db = (dir / "x.db").string();
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"--db", db, "--check=deep"},
                                               {"--db", db, "--incremental=-1"},
                                               {"--db", db, "--backup", (dir / "b.db").string()},
                                               {"--db", db, "--auto", "--threshold-fraction", "2"},
                                               {"--db", db, "--busy-timeout", "soon"},
                                               {"--db", db, "--full", "--backup", ""},
                                               {"--db", db, "stray-argument"}}) {
        BOOST_TEST_CONTEXT(args.back())
        {
            require_usage_error(vacuum(args));
        }
    }
}

BOOST_AUTO_TEST_CASE(version_names_the_toolkit)
{
    const auto result = vacuum({"--version"});

    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(contains(result.out, "spec-hygiene"), result.out);
    BOOST_TEST(std::count(result.out.begin(), result.out.end(), '\n') == 1);
}

BOOST_AUTO_TEST_CASE(help_lists_the_actions)
{
    const auto result = vacuum({"--help"});

    BOOST_TEST(result.exit_code == 0);
    for (const auto* action :
         {"--migrate", "--incremental", "--full", "--auto", "--checkpoint", "--check"})
        BOOST_TEST(contains(result.out, action), action);
}

// --- conflicts and repeats --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(format_text_with_json_is_a_usage_error)
{
    const auto db = make_database("c.db");

    require_usage_error(vacuum({"--db", db.string(), "--format", "text", "--json"}));
}

BOOST_AUTO_TEST_CASE(quiet_with_verbose_is_a_usage_error)
{
    const auto db = make_database("c.db");

    require_usage_error(vacuum({"--db", db.string(), "--quiet", "--verbose"}));
}

BOOST_AUTO_TEST_CASE(a_repeated_option_is_a_usage_error_that_names_it)
{
    const auto first = make_database("first.db");
    const auto second = make_database("second.db");
    const auto bytes = file_bytes(second);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--db", first.string(), "--db", second.string(), "--full"},
             {"--db", second.string(), "--full", "--backup", (dir / "a.bak").string(), "--backup",
              (dir / "b.bak").string()},
             {"--db", second.string(), "--format", "json", "--format", "text"},
             {"--db", second.string(), "--full", "--full"}}) {
        BOOST_TEST_CONTEXT(args.at(2))
        {
            const auto result = vacuum(args);

            require_usage_error(result);
            BOOST_TEST(contains(result.err, "more than once"), result.err);
        }
    }
    BOOST_TEST((file_bytes(second) == bytes));
    BOOST_TEST(!fs::exists(dir / "a.bak"));
    BOOST_TEST(!fs::exists(dir / "b.bak"));
}

// --- quiet and verbose ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(quiet_leaves_out_the_text_report_but_not_json_or_errors)
{
    const auto db = make_database("q.db");

    const auto text = vacuum({"--db", db.string(), "--format", "text", "--quiet"});
    const auto json_report = vacuum({"--db", db.string(), "--json", "--quiet"});
    const auto missing = vacuum({"--db", (dir / "none.db").string(), "--quiet"});

    BOOST_TEST(text.exit_code == 0, text.err);
    BOOST_TEST(text.out.empty(), text.out);
    BOOST_TEST(text.err.empty(), text.err);
    BOOST_TEST(parse_report(json_report).at("action") == "status");
    BOOST_TEST(missing.exit_code == 66);
    BOOST_TEST(contains(missing.err, "none.db"), missing.err);
}

BOOST_AUTO_TEST_CASE(verbose_says_when_a_busy_database_is_retried)
{
    const auto db = make_database("busy.db");
    auto writer = Database::open(db);
    common::Transaction hold(writer);
    writer.exec("INSERT INTO consensus_runs (spec_id, stage, consensus_ok) "
                "VALUES ('SPEC-KIT-999', 'plan', 1)");

    const auto result =
        vacuum({"--db", db.string(), "--migrate", "--verbose", "--busy-timeout", "50"});

    BOOST_TEST(result.exit_code == 75, result.err);
    BOOST_TEST(contains(result.err, "db-vacuum: busy, retrying in "), result.err);
    BOOST_TEST(contains(result.err, " ms, attempt 1 of 3\n"), result.err);
    BOOST_TEST(contains(result.err, " ms, attempt 2 of 3\n"), result.err);
}

// --- configuration ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(config_with_an_unknown_key_is_exit_78)
{
    const auto db = make_database("c.db");
    const auto config = dir / "config.json";
    write_config(config, R"({"db-vacuum": {"threshold_pagez": 10}})");

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 78);
    BOOST_TEST(contains(result.err, "threshold_pagez"), result.err);
}

BOOST_AUTO_TEST_CASE(config_with_a_wrong_type_is_exit_78)
{
    const auto db = make_database("c.db");
    const auto config = dir / "config.json";
    write_config(config, R"({"db-vacuum": {"threshold_pages": "x"}})");

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 78);
    BOOST_TEST(contains(result.err, "threshold_pages"), result.err);
}

BOOST_AUTO_TEST_CASE(missing_config_file_is_exit_66)
{
    const auto db = make_database("c.db");
    const auto config = dir / "no-such-config.json";

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 66);
    BOOST_TEST(contains(result.err, config.string()), result.err);
}

BOOST_AUTO_TEST_CASE(out_of_range_configured_threshold_is_exit_78)
{
    const auto db = make_database("c.db");
    const auto config = dir / "config.json";
    write_config(config, R"({"db-vacuum": {"threshold_fraction": 2}})");

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 78);
    BOOST_TEST(contains(result.err, config.string()), result.err);
}

BOOST_AUTO_TEST_CASE(number_beyond_double_in_the_configuration_is_exit_78)
{
    const auto db = make_database("c.db");
    const auto config = dir / "config.json";
    write_config(config, R"({"db-vacuum": {"threshold_fraction": 1e999}})");

    const auto result = vacuum({"--db", db.string(), "--config", config.string()});

    BOOST_TEST(result.exit_code == 78, result.err);
    BOOST_TEST(contains(result.err, config.string()), result.err);
}

BOOST_AUTO_TEST_CASE(nul_inside_a_configured_string_is_exit_78)
{
    const auto db = make_database("c.db");
    const auto config = dir / "config.json";
    write_config(config, fmt::format(R"({{"common": {{"db": "{}\u0000.ignored"}}}})", db.string()));
    const auto bytes = file_bytes(db);

    const auto result = vacuum({"--config", config.string(), "--full"});

    BOOST_TEST(result.exit_code == 78, result.err);
    BOOST_TEST(contains(result.err, "common.db"), result.err);
    BOOST_TEST((file_bytes(db) == bytes));
}

BOOST_AUTO_TEST_CASE(unreadable_config_file_is_exit_77_with_the_reason)
{
    const auto db = make_database("c.db");
    fs::permissions(db, fs::perms::all);
    const auto config = dir / "secret.json";
    write_config(config, "{}");
    fs::permissions(config, fs::perms::owner_read | fs::perms::owner_write);
    // Root reads through file modes, so the binary runs as nobody against root's file.
    std::vector<std::string> argv;
    if (::geteuid() == 0)
        argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
    argv.insert(argv.end(), {DB_VACUUM_BIN, "--db", db.string(), "--config", config.string()});

    const auto result = test_support::run_process(argv, {}, environment());

    BOOST_TEST(result.exit_code == 77, result.err);
    BOOST_TEST(contains(result.err, "Permission denied"), result.err);
    BOOST_TEST(contains(result.err, config.string()), result.err);
}

BOOST_AUTO_TEST_CASE(config_from_a_pipe_is_read)
{
    const auto db = make_database("c.db");

    const auto result = test_support::run_process(
        {"bash", "-c",
         R"(exec "$0" --db "$1" --json --config <(echo '{"common": {"busy_timeout_ms": 10}}'))",
         DB_VACUUM_BIN, db.string()},
        {}, environment());

    BOOST_TEST(result.exit_code == 0, result.err);
}

BOOST_AUTO_TEST_CASE(default_config_file_is_read_from_xdg_config_home)
{
    const auto db = make_database("c.db");
    write_config(config_home / "spec-hygiene" / "config.json", R"({"db-vacuum": {"nonsense": 1}})");

    const auto result = vacuum({"--db", db.string()});

    BOOST_TEST(result.exit_code == 78);
    BOOST_TEST(contains(result.err, (config_home / "spec-hygiene" / "config.json").string()),
               result.err);
}

BOOST_AUTO_TEST_CASE(configured_thresholds_drive_auto_and_flags_win)
{
    const auto db = make_database("migrated.db", 0);
    make_incremental(db);
    add_free_pages(db, 2 << 20);
    const auto free_pages = query_int(db, "PRAGMA freelist_count");
    write_config(config_home / "spec-hygiene" / "config.json",
                 R"({"db-vacuum": {"threshold_pages": 0, "threshold_fraction": 0}})");

    const auto flagged =
        vacuum({"--db", db.string(), "--auto", "--threshold-pages", std::to_string(free_pages)});
    BOOST_TEST(flagged.exit_code == 0, flagged.err);
    BOOST_TEST(!has_step(parse_report(flagged), "incremental"), flagged.out);

    const auto configured = vacuum({"--db", db.string(), "--auto"});
    BOOST_TEST(configured.exit_code == 0, configured.err);
    BOOST_TEST(has_step(parse_report(configured), "incremental"), configured.out);
}

// --- output -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(failed_write_to_stdout_is_exit_74)
{
    const auto db = make_database("full.db");

    const auto result = test_support::run_process(
        {"sh", "-c", R"(exec "$0" "$@" >/dev/full)", DB_VACUUM_BIN, "--db", db.string()}, {},
        environment());

    BOOST_TEST(result.exit_code == 74);
    BOOST_TEST(contains(result.err, "standard output"), result.err);
}

BOOST_AUTO_TEST_CASE(closed_stderr_keeps_the_exit_code)
{
    for (const auto* redirect : {"2>&-", "2>/dev/full"}) {
        BOOST_TEST_CONTEXT(redirect)
        {
            const auto result = test_support::run_process(
                {"sh", "-c", fmt::format(R"(exec "$0" "$@" {})", redirect), DB_VACUUM_BIN, "--db",
                 (dir / "missing.db").string()},
                {}, environment());

            BOOST_TEST(result.exit_code == 66);
        }
    }
}

// --- where the database is --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(database_comes_from_spec_hygiene_db_without_db_flag)
{
    const auto db = make_database("env.db");

    const auto result = vacuum({}, {{"SPEC_HYGIENE_DB", db.string()}});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result).at("database") == db.string());
}

BOOST_AUTO_TEST_CASE(db_flag_wins_over_spec_hygiene_db)
{
    const auto flagged = make_database("flag.db");
    const auto from_env = make_database("env.db");

    const auto result =
        vacuum({"--db", flagged.string()}, {{"SPEC_HYGIENE_DB", from_env.string()}});

    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(parse_report(result).at("database") == flagged.string());
}

BOOST_AUTO_TEST_CASE(environment_wins_over_the_configured_database)
{
    const auto configured = make_database("configured.db");
    const auto from_env = make_database("env.db");
    write_config(config_home / "spec-hygiene" / "config.json",
                 fmt::format(R"({{"common": {{"db": "{}"}}}})", configured.string()));

    const auto with_env = vacuum({}, {{"SPEC_HYGIENE_DB", from_env.string()}});
    const auto without = vacuum({});

    BOOST_TEST(with_env.exit_code == 0, with_env.err);
    BOOST_TEST(parse_report(with_env).at("database") == from_env.string());
    BOOST_TEST(without.exit_code == 0, without.err);
    BOOST_TEST(parse_report(without).at("database") == configured.string());
}

BOOST_AUTO_TEST_CASE(default_database_is_under_xdg_state_home)
{
    const auto expected = dir / "state" / "spec-hygiene" / "hygiene.db";

    const auto result = vacuum({});

    BOOST_TEST(result.exit_code == 66);
    BOOST_TEST(contains(result.err, expected.string()), result.err);
    BOOST_TEST(!fs::exists(expected));
}

BOOST_AUTO_TEST_CASE(relative_xdg_directories_are_ignored)
{
    // A relative XDG_CONFIG_HOME or XDG_STATE_HOME is invalid (XDG base directory spec): HOME's
    // defaults apply, wherever the tool happens to run.
    const auto home = dir / "home";
    const auto work = dir / "work";
    write_config(work / "cfg" / "spec-hygiene" / "config.json", "not JSON");
    fs::create_directories(work / "state" / "spec-hygiene");
    const auto expected = home / ".local" / "state" / "spec-hygiene" / "hygiene.db";

    const auto result = test_support::run_process(
        {"sh", "-c", R"(cd "$0" && exec "$1")", work.string(), DB_VACUUM_BIN}, {},
        environment(
            {{"HOME", home.string()}, {"XDG_CONFIG_HOME", "cfg"}, {"XDG_STATE_HOME", "state"}}));

    BOOST_TEST(result.exit_code == 66, result.err);
    BOOST_TEST(contains(result.err, expected.string()), result.err);
}

BOOST_AUTO_TEST_SUITE_END()
