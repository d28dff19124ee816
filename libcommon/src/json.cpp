#include "common/json.hpp"

namespace common {

std::string sanitize_utf8(std::string_view text)
{
    // Round-trip through the serializer, which replaces invalid sequences, then strip the
    // quotes and escapes it adds by parsing it back.
    const std::string quoted = nlohmann::json(std::string(text))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return nlohmann::json::parse(quoted).get<std::string>();
}

std::string json_text(const Json& value)
{
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string json_line(const Json& value)
{
    return json_text(value) + '\n';
}

void write_json_line(std::ostream& out, const Json& value)
{
    out << json_line(value);
}

}  // namespace common
