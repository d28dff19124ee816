#include "common/paths.hpp"

#include "common/error.hpp"

#include <cstdlib>
#include <system_error>

namespace common {
namespace {

// An XDG base directory variable's value; the XDG spec says a relative one is invalid and to
// be ignored.
std::optional<std::filesystem::path> xdg_dir(const EnvLookup& env, const char* variable)
{
    auto value = env(variable);
    if (!value || std::filesystem::path(*value).is_relative()) return std::nullopt;
    return std::filesystem::path(*value);
}

std::filesystem::path home_subdir(const EnvLookup& env, const char* xdg_variable,
                                  const char* home_relative)
{
    if (auto xdg = xdg_dir(env, xdg_variable)) return *xdg / "spec-hygiene";
    if (auto home = env("HOME"))
        return std::filesystem::path(*home) / home_relative / "spec-hygiene";
    throw Error(Exit::config, "cannot find a default location: neither {} nor HOME is set",
                xdg_variable);
}

}  // namespace

std::optional<std::string> process_env(const char* name)
{
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
}

std::filesystem::path state_dir(const EnvLookup& env)
{
    return home_subdir(env, "XDG_STATE_HOME", ".local/state");
}

std::filesystem::path default_db_path(const EnvLookup& env)
{
    if (auto db = env("SPEC_HYGIENE_DB")) return *db;
    return state_dir(env) / "hygiene.db";
}

std::filesystem::path default_evidence_root(const EnvLookup& env)
{
    if (auto root = env("SPEC_HYGIENE_EVIDENCE")) return *root;
    return state_dir(env) / "evidence";
}

std::optional<std::filesystem::path> default_config_file(const EnvLookup& env)
{
    std::filesystem::path file;
    if (auto xdg = xdg_dir(env, "XDG_CONFIG_HOME"))
        file = *xdg / "spec-hygiene" / "config.json";
    else if (auto home = env("HOME"))
        file = std::filesystem::path(*home) / ".config" / "spec-hygiene" / "config.json";
    else
        return std::nullopt;
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return std::nullopt;
    return file;
}

}  // namespace common
