#include "test_hooks.hpp"

#include "common/paths.hpp"

#include <csignal>
#include <string>
#include <unistd.h>

namespace evidence_prune {

void install_test_hooks(Options& options)
{
    if (auto point = common::process_env("SPEC_HYGIENE_TEST_SIGNAL_AT")) {
        const auto colon = point->find(':');
        const int signal =
            colon != std::string::npos && point->substr(colon + 1) == "INT" ? SIGINT : SIGTERM;
        options.crash_hook = [at = point->substr(0, colon), signal](std::string_view reached) {
            if (reached == at) ::kill(::getpid(), signal);
        };
    }
    if (auto point = common::process_env("SPEC_HYGIENE_TEST_CRASH_AT"))
        options.crash_hook = [point = *point, removed = 0](std::string_view reached) mutable {
            if (reached == "file-removed" && point.starts_with("files:") &&
                std::to_string(++removed) == point.substr(6))
                ::kill(::getpid(), SIGKILL);
            if (reached == point) ::kill(::getpid(), SIGKILL);
        };
}

}  // namespace evidence_prune
