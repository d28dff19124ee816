#include "options.hpp"

#include "common/cli.hpp"
#include "common/error.hpp"

#include <array>
#include <cmath>

namespace spawn_agents {
namespace {

using common::Error;
using common::Exit;

constexpr std::array<std::string_view, 1> formats{"json"};
constexpr common::SharedOptionSet shared_set{.database = true, .evidence = true};

// The longest timeout or grace accepted: a week, far below what milliseconds can hold.
constexpr double max_seconds = 7 * 24 * 3600;

cxxopts::Options make_cli()
{
    cxxopts::Options cli("spawn-agents",
                         "Start a batch of agent commands concurrently, capture their output as "
                         "evidence and record every spawn and exit in the database.");
    cli.custom_help("[OPTIONS] [--batch FILE]");
    auto batch = cli.add_options("Batch");
    batch("batch", "the batch as a JSON object (default: standard input, also '-')",
          cxxopts::value<std::string>(), "FILE");
    batch("jobs", "run at most N agents at once (default: all that the open-file limit allows)",
          cxxopts::value<std::int64_t>(), "N");
    batch("sequential", "start each agent after the one before has ended (the baseline)");
    batch("timeout", "seconds an agent may run unless it sets timeout_s (default 600)",
          cxxopts::value<double>(), "SECONDS");
    batch("kill-grace", "seconds between SIGTERM and SIGKILL (default 5)", cxxopts::value<double>(),
          "SECONDS");
    batch("max-response", "bytes of an agent's stdout kept in response_text (default 1048576)",
          cxxopts::value<std::int64_t>(), "BYTES");
    batch("lock-timeout",
          "milliseconds to wait for the spec's evidence lock (default: the busy timeout)",
          cxxopts::value<std::int64_t>(), "MS");
    common::add_shared_options(cli, shared_set, "output: json, JSON Lines (the only format)");
    return cli;
}

std::chrono::milliseconds to_millis(double seconds)
{
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

}  // namespace

std::string help_text()
{
    return make_cli().help({"Batch", "Common"});
}

Options parse_options(std::span<char*> args, const common::EnvLookup& env, bool stderr_is_terminal)
{
    auto cli = make_cli();
    const auto result = common::parse_arguments(cli, args);

    Options options;
    options.shared = common::resolve_shared_options(result, env, shared_set, formats, "json");
    if (options.shared.help || options.shared.version) return options;

    const auto& config = options.shared.config;
    if (auto batch = common::flag<std::string>(result, "batch")) {
        if (batch->empty()) throw Error(Exit::usage, "--batch needs a file, or '-' for stdin");
        options.batch = *batch;
    }
    options.sequential = result.count("sequential") > 0;
    options.jobs = common::bounded_setting<std::int64_t>(result, "jobs", config, "spawn-agents",
                                                         "jobs", 0, 0, 100'000);
    if (options.sequential && result.count("jobs") > 0 && options.jobs != 1)
        throw Error(Exit::usage, "--sequential runs one agent at a time; drop --jobs");
    options.timeout = to_millis(common::bounded_setting<double>(
        result, "timeout", config, "spawn-agents", "timeout_s", 600.0, 0.001, max_seconds));
    options.kill_grace = to_millis(common::bounded_setting<double>(
        result, "kill-grace", config, "spawn-agents", "grace_s", 5.0, 0.0, max_seconds));
    options.max_response = common::bounded_setting<std::int64_t>(
        result, "max-response", config, "spawn-agents", "response_cap_bytes", options.max_response,
        0, std::int64_t{1} << 30);
    options.lock_timeout = std::chrono::milliseconds(common::bounded_setting<std::int64_t>(
        result, "lock-timeout", config, "spawn-agents", "lock_timeout_ms",
        options.shared.busy_timeout_ms, 0, std::int64_t{7} * 24 * 3600 * 1000));
    options.status_line = stderr_is_terminal && !options.shared.quiet;
    return options;
}

}  // namespace spawn_agents
