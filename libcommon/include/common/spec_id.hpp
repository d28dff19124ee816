#pragma once
// The SPEC-ID rule: names of the evidence tree's spec folders and of the specs in the database.

#include <string_view>

namespace common {

// True when `name` is a SPEC-ID: [A-Z][A-Z0-9]*(-[A-Z0-9]+)+, e.g. SPEC-KIT-933.
bool is_spec_id(std::string_view name) noexcept;

// True when `name` is a spec's folder: a SPEC-ID, optionally followed by a lower-case slug
// (-[a-z0-9][a-z0-9-]*), e.g. SPEC-KIT-045-mini. The spec is the folder.
bool is_spec_folder(std::string_view name) noexcept;

}  // namespace common
