#pragma once
// evidence-prune's core: walks the evidence root spec by spec, decides by the policy, and
// archives, verifies, purges and records; or checks sizes, plans, applies a plan, restores.

#include "common/clock.hpp"
#include "options.hpp"

#include <ostream>

namespace evidence_prune {

// Runs `options` at the time `clock` gives. JSON Lines go to `out` (one line per action, then
// the summary); warnings, --explain and the progress line to `err`. Returns the exit code:
// 0, 1 when some item failed or was skipped, 2 when --check found a hard limit passed.
// Throws Error 75 when another instance holds the root, 66/77/74 when the root cannot be used.
int run(const Options& options, const common::Clock& clock, std::ostream& out, std::ostream& err);

}  // namespace evidence_prune
