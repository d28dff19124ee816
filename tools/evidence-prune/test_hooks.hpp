#pragma once
// Hooks for the crash and signal tests, linked only into the test build of evidence-prune
// (evidence-prune-test-hooks), never into the installed binary.

#include "options.hpp"

namespace evidence_prune {

// Sets `options.crash_hook` from the environment: SPEC_HYGIENE_TEST_CRASH_AT=POINT kills the
// process with SIGKILL at that point of no return, or =files:N once N originals are gone;
// SPEC_HYGIENE_TEST_SIGNAL_AT=POINT sends it SIGTERM there, or =POINT:INT SIGINT, as a user
// or a service manager would.
void install_test_hooks(Options& options);

}  // namespace evidence_prune
