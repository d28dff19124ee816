#pragma once
// The one way JSON input comes in, for tool input and configuration alike: read it from "-"
// or a file, parse it with duplicate keys refused, and check its fields by JSON path. Every
// error is one line that names the source and never echoes the input's bytes.

#include "common/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace common {

// The whole content of standard input ("-") or of the file at `path_or_dash`. Throws Error 66
// when the file is missing, 65 when it is a folder, 77 when permission is denied, 74 when
// reading fails.
std::string read_input(std::string_view path_or_dash);

// How errors name the input: "standard input" for "-", else the path.
std::string input_name(std::string_view path_or_dash);

// The deepest nesting of arrays and objects that parse_json() accepts: far beyond any batch,
// plan or configuration, and a bound on what a hostile document costs.
inline constexpr std::size_t max_json_depth = 512;

// Parses `text`, in memory linear in its size. Throws Error 65 "SOURCE: JSON nested deeper
// than 512 levels" beyond max_json_depth; Error 65 "SOURCE: malformed JSON at byte N: REASON" for a
// syntax error (REASON is the parser's own wording, without any of the input's bytes), "SOURCE:
// PATH: key appears twice" for a key given twice in one object, and "SOURCE: malformed JSON: a
// number is out of range" for a number no double holds (1e999).
nlohmann::json parse_json(std::string_view text, std::string_view source);

// "agents[2]": the path of element `index` of the array at `array_path`.
std::string element_path(std::string_view array_path, std::size_t index);
// "agents[2].command": the path of `key` in the object at `object_path` ("" is the top).
std::string member_path(std::string_view object_path, std::string_view key);

// Reads the fields of one JSON object and checks their types. Every error is Error `code`
// (65 unless given) "SOURCE: PATH: what was wrong", e.g. "batch.json: agents[2].command:
// expected an array of strings". Keeps a reference to `object`, which must outlive it.
class FieldReader {
public:
    // Throws when `object` is not a JSON object.
    FieldReader(const nlohmann::json& object, std::string path, std::string source,
                Exit code = Exit::data);

    // The value of `key` converted to T; throws when it is missing or of another type.
    // T: std::string, bool, any integer type (range-checked), double, std::vector<std::string>,
    // std::map<std::string, std::string>, nlohmann::json (any value).
    template <typename T> T required(std::string_view key)
    {
        const auto* field = value(key);
        if (field == nullptr) fail(key, "required field is missing");
        return convert<T>(*field, key);
    }
    // As required(), but nullopt when `key` is missing or null.
    template <typename T> std::optional<T> optional(std::string_view key)
    {
        const auto* field = value(key);
        if (field == nullptr || field->is_null()) return std::nullopt;
        return convert<T>(*field, key);
    }
    // The raw value of `key` (nullptr when missing); the key counts as known.
    const nlohmann::json* value(std::string_view key);
    // A reader of the object at `key`; throws when it is missing or not an object.
    FieldReader object(std::string_view key);

    std::string path_of(std::string_view key) const { return member_path(m_path, key); }
    const std::string& path() const { return m_path; }
    const std::string& source() const { return m_source; }

    // Throws for the first key that no required(), optional(), value() or object() asked for.
    void reject_unknown() const;

    // Throws Error code "SOURCE: PATH.key: message".
    [[noreturn]] void fail(std::string_view key, std::string_view message) const;

private:
    template <typename T> T convert(const nlohmann::json& field, std::string_view key) const
    {
        if constexpr (std::is_same_v<T, nlohmann::json>) {
            return field;
        } else if constexpr (std::is_same_v<T, std::string>) {
            if (!field.is_string()) fail(key, "expected a string");
            return field.get<std::string>();
        } else if constexpr (std::is_same_v<T, bool>) {
            if (!field.is_boolean()) fail(key, "expected true or false");
            return field.get<bool>();
        } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
            return static_cast<T>(signed_integer(field, key, std::numeric_limits<T>::min(),
                                                 std::numeric_limits<T>::max()));
        } else if constexpr (std::is_integral_v<T>) {
            return static_cast<T>(unsigned_integer(field, key, std::numeric_limits<T>::max()));
        } else if constexpr (std::is_same_v<T, double>) {
            if (!field.is_number()) fail(key, "expected a number");
            return field.get<double>();
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            if (!field.is_array()) fail(key, "expected an array of strings");
            std::vector<std::string> items;
            for (const auto& item : field) {
                if (!item.is_string()) fail(key, "expected an array of strings");
                items.push_back(item.get<std::string>());
            }
            return items;
        } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
            if (!field.is_object()) fail(key, "expected an object of strings");
            std::map<std::string, std::string> items;
            for (auto item = field.begin(); item != field.end(); ++item) {
                if (!item->is_string()) fail(key, "expected an object of strings");
                items.emplace(item.key(), item->template get<std::string>());
            }
            return items;
        } else {
            static_assert(std::is_same_v<T, void>, "FieldReader cannot read this type");
        }
    }
    // The integer in `field` when it lies in [min, max]; throws otherwise.
    std::int64_t signed_integer(const nlohmann::json& field, std::string_view key, std::int64_t min,
                                std::int64_t max) const;
    std::uint64_t unsigned_integer(const nlohmann::json& field, std::string_view key,
                                   std::uint64_t max) const;

    const nlohmann::json& m_object;
    std::string m_path;
    std::string m_source;
    Exit m_code;
    std::set<std::string, std::less<>> m_known;
};

}  // namespace common
