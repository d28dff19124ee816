#pragma once
// JSON Lines: one JSON value per line.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <istream>
#include <optional>
#include <string>

namespace common {

// Reads JSON Lines from a stream, one object per line; blank lines are skipped. Errors name
// the source and the line: Error 65 "stdin line 3: malformed JSON at byte 7: ..." for a line
// that is not JSON or not an object, Error 74 when reading fails.
class JsonLinesReader {
public:
    JsonLinesReader(std::istream& in, std::string source);

    // The next object, or nullopt at the end of the stream.
    std::optional<nlohmann::json> next();

    // The 1-based number of the line next() returned last (0 before the first).
    std::size_t line_number() const { return m_line; }
    // "SOURCE line N", for errors about the content of the current line.
    std::string where() const;

private:
    std::istream& m_in;
    std::string m_source;
    std::size_t m_line = 0;
};

}  // namespace common
