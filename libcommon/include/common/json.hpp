#pragma once
// JSON out: documents and JSON Lines streams the tools write (input.hpp reads JSON).

#include <nlohmann/json.hpp>

#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>

namespace common {

// Documents the tools write: members stay in the order they were added, so that "tool" and
// "schema_version" lead and a person reading a log line finds them first.
using Json = nlohmann::ordered_json;

// Replaces every invalid UTF-8 sequence in `text` with U+FFFD.
std::string sanitize_utf8(std::string_view text);

// Compact JSON text; invalid UTF-8 in strings is replaced, never thrown.
std::string json_text(const Json& value);
// One compact JSON object and a newline, as JSON Lines streams carry them.
std::string json_line(const Json& value);
void write_json_line(std::ostream& out, const Json& value);

}  // namespace common
