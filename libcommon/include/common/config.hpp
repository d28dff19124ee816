#pragma once
// The JSON configuration file: one section per tool ("db-vacuum", ...) and "common" for
// what they share. Precedence is flags, then environment, then this file, then defaults.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace common {

class Config {
public:
    // An empty configuration: every lookup falls through to the defaults.
    Config() = default;

    // Reads and validates `file`. Throws Error 66 when it is missing and 78 when it is not
    // a JSON object, names an unknown section or key, or gives a value of the wrong type.
    static Config load(const std::filesystem::path& file);

    // Validates an already parsed document as load() does; `source` names it in errors.
    static Config from_json(const nlohmann::json& document, std::string_view source);

    // The value of `key` in `section`, when the file sets it. Types were checked on load.
    std::optional<std::int64_t> integer(std::string_view section, std::string_view key) const;
    std::optional<double> number(std::string_view section, std::string_view key) const;
    std::optional<std::string> text(std::string_view section, std::string_view key) const;
    std::optional<bool> boolean(std::string_view section, std::string_view key) const;
    // A key that takes a string or a list of strings, as a list.
    std::optional<std::vector<std::string>> texts(std::string_view section,
                                                  std::string_view key) const;
    template <typename T> std::optional<T> get(std::string_view section, std::string_view key) const
    {
        const auto* value = find(section, key);
        return value ? std::optional<T>(value->get<T>()) : std::nullopt;
    }

    // The file the configuration came from, for error messages ("" when empty).
    const std::string& source() const { return m_source; }

private:
    const nlohmann::json* find(std::string_view section, std::string_view key) const;
    nlohmann::json m_document = nlohmann::json::object();
    std::string m_source;
};

}  // namespace common
