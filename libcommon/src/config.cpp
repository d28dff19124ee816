#include "common/config.hpp"

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/input.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <system_error>
#include <vector>

namespace common {
namespace {

enum class Kind { integer, number, text, boolean, texts };

using Section = std::map<std::string, Kind, std::less<>>;

// Every key the configuration file may set, per section. One table for the whole suite, so
// that every tool rejects a typo in any section.
const std::map<std::string, Section, std::less<>>& known_keys()
{
    static const std::map<std::string, Section, std::less<>> keys{
        {"common",
         {{"db", Kind::text}, {"evidence", Kind::text}, {"busy_timeout_ms", Kind::integer}}},
        {"db-vacuum",
         {{"threshold_pages", Kind::integer},
          {"threshold_fraction", Kind::number},
          {"backup", Kind::text}}},
        {"spawn-agents",
         {{"jobs", Kind::integer},
          {"timeout_s", Kind::number},
          {"grace_s", Kind::number},
          {"response_cap_bytes", Kind::integer}}},
        {"evidence-prune",
         {{"active_days", Kind::number},
          {"archive_days", Kind::number},
          {"purge_days", Kind::number},
          {"purge_grace_days", Kind::number},
          {"stale_days", Kind::number},
          {"rows_of_others", Kind::boolean},
          {"evidence", Kind::texts},
          {"warn_spec_mb", Kind::number},
          {"limit_spec_mb", Kind::number},
          {"limit_total_mb", Kind::number}}},
        {"metrics-report",
         {{"window", Kind::integer},
          {"batch_window", Kind::integer},
          {"max_p95_ms", Kind::number},
          {"min_success_rate", Kind::number}}},
    };
    return keys;
}

bool has_kind(const nlohmann::json& value, Kind kind)
{
    switch (kind) {
    // Integers are read as int64: a larger one would wrap around.
    case Kind::integer:
        return value.is_number_integer() &&
               !(value.is_number_unsigned() &&
                 value.get<std::uint64_t>() >
                     static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    case Kind::number: return value.is_number();
    case Kind::text: return value.is_string();
    case Kind::boolean: return value.is_boolean();
    case Kind::texts:
        return value.is_string() || (value.is_array() && !value.empty() &&
                                     std::all_of(value.begin(), value.end(), [](const auto& item) {
                                         return item.is_string();
                                     }));
    }
    return false;
}

const char* kind_name(Kind kind)
{
    switch (kind) {
    case Kind::integer: return "an integer below 2^63";
    case Kind::number: return "a number";
    case Kind::text: return "a string";
    case Kind::boolean: return "true or false";
    case Kind::texts: return "a string or a non-empty list of strings";
    }
    return "?";
}

}  // namespace

Config Config::load(const std::filesystem::path& file)
{
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
        throw Error(Exit::config, "{} is a directory, not a configuration file", file.string());
    const std::string text = read_file(file);
    nlohmann::json document;
    try {
        document = parse_json(text, file.string());
    } catch (const Error& error) {
        // The same parser as the tools' input; a bad configuration file is exit 78.
        if (error.code() != Exit::data) throw;
        throw Error(Exit::config, error.what());
    }
    return from_json(document, file.string());
}

Config Config::from_json(const nlohmann::json& document, std::string_view source)
{
    if (!document.is_object())
        throw Error(Exit::config, "{}: the configuration must be a JSON object", source);
    const auto& sections = known_keys();
    for (const auto& [name, body] : document.items()) {
        const auto section = sections.find(name);
        if (section == sections.end())
            throw Error(Exit::config, "{}: unknown section \"{}\"", source, name);
        if (!body.is_object())
            throw Error(Exit::config, "{}: section \"{}\" must be a JSON object", source, name);
        for (const auto& [key, value] : body.items()) {
            const auto known = section->second.find(key);
            if (known == section->second.end())
                throw Error(Exit::config, "{}: unknown key \"{}.{}\"", source, name, key);
            if (!has_kind(value, known->second))
                throw Error(Exit::config, "{}: \"{}.{}\" must be {}, not {}", source, name, key,
                            kind_name(known->second), value.type_name());
            // A path or name with a NUL in it would be cut short where it is used.
            const auto has_nul = [](const nlohmann::json& item) {
                return item.is_string() && item.get<std::string>().find('\0') != std::string::npos;
            };
            if (has_nul(value) ||
                (value.is_array() && std::any_of(value.begin(), value.end(), has_nul)))
                throw Error(Exit::config, "{}: \"{}.{}\" contains a NUL character", source, name,
                            key);
        }
    }
    Config config;
    config.m_document = document;
    config.m_source = source;
    return config;
}

const nlohmann::json* Config::find(std::string_view section, std::string_view key) const
{
    const auto body = m_document.find(section);
    if (body == m_document.end() || !body->is_object() || !body->contains(key)) return nullptr;
    return &body->at(key);
}

std::optional<std::int64_t> Config::integer(std::string_view section, std::string_view key) const
{
    return get<std::int64_t>(section, key);
}

std::optional<double> Config::number(std::string_view section, std::string_view key) const
{
    return get<double>(section, key);
}

std::optional<std::string> Config::text(std::string_view section, std::string_view key) const
{
    return get<std::string>(section, key);
}

std::optional<std::vector<std::string>> Config::texts(std::string_view section,
                                                      std::string_view key) const
{
    const auto* value = find(section, key);
    if (value == nullptr) return std::nullopt;
    if (value->is_string()) return std::vector<std::string>{value->get<std::string>()};
    return value->get<std::vector<std::string>>();
}

std::optional<bool> Config::boolean(std::string_view section, std::string_view key) const
{
    return get<bool>(section, key);
}

}  // namespace common
