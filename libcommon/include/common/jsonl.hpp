#pragma once
// JSON Lines streams: one compact JSON object per line, as spawn-agents writes its events and
// metrics-report reads them.

#include "common/json.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <istream>
#include <optional>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>

namespace common {

// Writes one object per line and flushes after each, so that a reader down a pipe sees every
// event as it happens. Invalid UTF-8 in strings is replaced.
class JsonLinesWriter {
public:
    // `name` says where the lines go, for the error message ("standard output").
    explicit JsonLinesWriter(std::ostream& out, std::string name = "standard output")
        : m_out(out), m_name(std::move(name))
    {
    }

    // Writes `value` and a newline and, unless `flush` is false (lines that come together:
    // the last of them flushes them all), flushes. Throws Error 74 when the write or the
    // flush fails (a full disk, a closed pipe); the stream stays failed.
    void write(const Json& value, bool flush = true);

private:
    std::ostream& m_out;
    std::string m_name;
};

// The longest line a JsonLinesReader takes by default: an event is a few hundred bytes.
constexpr std::size_t max_json_line_bytes = std::size_t{1} << 20;

// A std::streambuf reading a file descriptor it does not own, whose read errors throw Error
// 74 naming `source` (a folder, an I/O error): std::cin tells them apart from the end.
class FdInputBuffer : public std::streambuf {
public:
    FdInputBuffer(int fd, std::string source) : m_fd(fd), m_source(std::move(source)) {}

protected:
    int_type underflow() override;

private:
    int m_fd;
    std::string m_source;
    char m_buffer[65536];
};

// Reads JSON Lines from a stream, one object per line; blank lines are skipped. Errors name
// the source and the line: Error 65 "stdin line 3: malformed JSON at byte 7: ..." for a line
// that is not JSON or not an object or longer than `max_line_bytes` (read no further than
// that), Error 74 when reading fails.
class JsonLinesReader {
public:
    JsonLinesReader(std::istream& in, std::string source,
                    std::size_t max_line_bytes = max_json_line_bytes);

    // The next object, or nullopt at the end of the stream.
    std::optional<nlohmann::json> next();

    // The 1-based number of the line next() returned last (0 before the first).
    std::size_t line_number() const { return m_line; }
    // "SOURCE line N", for errors about the content of the current line.
    std::string where() const;

private:
    // Reads the next line into `line` without its '\n'; false at the end.
    bool read_line(std::string& line);

    std::istream& m_in;
    std::string m_source;
    std::size_t m_max_line_bytes;
    std::size_t m_line = 0;
};

}  // namespace common
