#include "common/jsonl.hpp"

#include "common/error.hpp"
#include "common/input.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace common {

void JsonLinesWriter::write(const Json& value, bool flush)
{
    if (m_out) {
        m_out << json_line(value);
        if (flush) m_out.flush();
    }
    if (!m_out) throw Error(Exit::io, "cannot write to {}", m_name);
}

FdInputBuffer::int_type FdInputBuffer::underflow()
{
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    ssize_t got = 0;
    do {
        got = ::read(m_fd, m_buffer, sizeof m_buffer);
    } while (got < 0 && errno == EINTR);
    if (got < 0 && errno == EISDIR)
        throw Error(Exit::data, "{}: is a folder, not a JSON Lines file", m_source);
    if (got < 0) throw Error(Exit::io, "{}: cannot read: {}", m_source, std::strerror(errno));
    if (got == 0) return traits_type::eof();
    setg(m_buffer, m_buffer, m_buffer + got);
    return traits_type::to_int_type(*gptr());
}

JsonLinesReader::JsonLinesReader(std::istream& in, std::string source, std::size_t max_line_bytes)
    : m_in(in), m_source(std::move(source)), m_max_line_bytes(max_line_bytes)
{
}

bool JsonLinesReader::read_line(std::string& line)
{
    line.clear();
    auto* buffer = m_in.rdbuf();
    if (buffer == nullptr || !m_in.good()) return false;
    for (;;) {
        const auto c = buffer->sbumpc();
        if (c == std::char_traits<char>::eof()) {
            m_in.setstate(std::ios::eofbit);
            return !line.empty();
        }
        if (c == '\n') return true;
        if (line.size() >= m_max_line_bytes)
            throw Error(Exit::data, "{} line {}: longer than {} bytes", m_source, m_line + 1,
                        m_max_line_bytes);
        line.push_back(static_cast<char>(c));
    }
}

std::string JsonLinesReader::where() const
{
    return fmt::format("{} line {}", m_source, m_line);
}

std::optional<nlohmann::json> JsonLinesReader::next()
{
    std::string line;
    while (read_line(line)) {
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
