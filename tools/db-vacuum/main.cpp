#include "common/cli.hpp"
#include "common/host.hpp"
#include "common/paths.hpp"
#include "common/runner.hpp"
#include "db_vacuum.hpp"

#include <iostream>
#include <span>

int main(int argc, char** argv)
{
    return common::run_tool(
        "db-vacuum", argc, argv,
        [](std::span<char*> args) {
            return db_vacuum::parse_options(args, common::process_env,
                                            common::stdout_is_terminal());
        },
        db_vacuum::help_text,
        [](const db_vacuum::Options& options) {
            const db_vacuum::Host host{.sqlite_temp_dir =
                                           common::sqlite_temp_dir(common::process_env),
                                       .available_memory = common::available_memory(),
                                       .cores = db_vacuum::usable_cores()};
            return db_vacuum::run(options, host, std::cout, std::cerr);
        });
}
