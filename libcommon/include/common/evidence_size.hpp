#pragma once
// One measure of a spec's evidence, so that the gate (evidence-prune --check) and the health
// report (metrics-report) agree on every tree.

#include "common/tree.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace common {

// The spec of an archive name "SPEC-folder-YYYYMMDD.tar.gz" or "SPEC-folder-YYYYMMDD-N.tar.gz";
// nullopt for any other name.
std::optional<std::string> spec_of_archive_name(std::string_view name);

// The evidence bytes of each spec under `root`: the sizes of its regular files under
// commands/<SPEC>/ and consensus/<SPEC>/ (temporaries ".NAME.XXXXXX.tmp" not counted) and of
// its archives archives/<SPEC>-YYYYMMDD[-N].tar.gz. Symlinks are never followed; a folder
// that cannot be read counts nothing.
std::map<std::string, std::uint64_t> measure_evidence(const TreeRoot& root);

}  // namespace common
