#pragma once
// Where the database, the evidence root and the configuration file live by default.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace common {

// Looks up an environment variable; tests pass their own.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// The real process environment (unset and empty both give nullopt).
std::optional<std::string> process_env(const char* name);

// $XDG_STATE_HOME/spec-hygiene, else ~/.local/state/spec-hygiene; a relative XDG_STATE_HOME
// is ignored, as the XDG spec says. Throws Error 78 when neither is usable.
std::filesystem::path state_dir(const EnvLookup& env);

// The default database: $SPEC_HYGIENE_DB, else state_dir()/hygiene.db.
std::filesystem::path default_db_path(const EnvLookup& env);

// The default evidence root: $SPEC_HYGIENE_EVIDENCE, else state_dir()/evidence.
std::filesystem::path default_evidence_root(const EnvLookup& env);

// $XDG_CONFIG_HOME/spec-hygiene/config.json (or ~/.config/..., also when XDG_CONFIG_HOME is
// relative) when that file exists.
std::optional<std::filesystem::path> default_config_file(const EnvLookup& env);

}  // namespace common
