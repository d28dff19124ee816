#include "common/jsonl.hpp"

#include "common/error.hpp"
#include "common/input.hpp"

#include <fmt/format.h>

namespace common {

void JsonLinesWriter::write(const Json& value)
{
    if (m_out) {
        m_out << json_line(value);
        m_out.flush();
    }
    if (!m_out) throw Error(Exit::io, "cannot write to {}", m_name);
}

JsonLinesReader::JsonLinesReader(std::istream& in, std::string source)
    : m_in(in), m_source(std::move(source))
{
}

std::string JsonLinesReader::where() const
{
    return fmt::format("{} line {}", m_source, m_line);
}

std::optional<nlohmann::json> JsonLinesReader::next()
{
    std::string line;
    while (std::getline(m_in, line)) {
        ++m_line;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        auto value = parse_json(line, where());
        if (!value.is_object())
            throw Error(Exit::data, "{}: expected a JSON object, got {}", where(),
                        value.type_name());
        return value;
    }
    if (m_in.bad()) throw Error(Exit::io, "{}: read error after line {}", m_source, m_line);
    return std::nullopt;
}

}  // namespace common
