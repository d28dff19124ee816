#pragma once
// JSON in and out: parsing with errors that say where, and JSON Lines output.

#include <nlohmann/json.hpp>

#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>

namespace common {

// Parses `text`. Throws Error 65 "SOURCE: malformed JSON at byte N: ..." when it is not JSON.
nlohmann::json parse_json(std::string_view text, std::string_view source);

// Replaces every invalid UTF-8 sequence in `text` with U+FFFD.
std::string sanitize_utf8(std::string_view text);

// One compact JSON object and a newline; invalid UTF-8 in strings is replaced, never thrown.
std::string json_line(const nlohmann::json& value);
void write_json_line(std::ostream& out, const nlohmann::json& value);

}  // namespace common
