#include "common/cli.hpp"
#include "common/host.hpp"
#include "common/paths.hpp"
#include "common/runner.hpp"
#include "db_vacuum.hpp"

#include <iostream>
#include <span>

int main(int argc, char** argv)
{
    return common::run_tool("db-vacuum", argc, argv, [](std::span<char*> args) {
        const auto options =
            db_vacuum::parse_options(args, common::process_env, common::stdout_is_terminal());
        if (options.shared.help) {
            std::cout << db_vacuum::help_text();
            return 0;
        }
        if (options.shared.version) {
            std::cout << common::version_line("db-vacuum") << '\n';
            return 0;
        }
        const db_vacuum::Host host{.sqlite_temp_dir = common::sqlite_temp_dir(common::process_env),
                                   .available_memory = common::available_memory(),
                                   .cores = db_vacuum::usable_cores()};
        return db_vacuum::run(options, host, std::cout, std::cerr);
    });
}
