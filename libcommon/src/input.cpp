#include "common/input.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace common {
namespace {

std::string read_all(int fd, const std::string& name)
{
    std::string content;
    char buffer[65536];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got == 0) return content;
        if (got < 0) {
            if (errno == EINTR) continue;
            // A folder on standard input is the same mistake as a folder named.
            if (errno == EISDIR) throw Error(Exit::data, "{} is a folder, not a file", name);
            throw Error(Exit::io, "cannot read {}: {}", name, std::strerror(errno));
        }
        content.append(buffer, static_cast<std::size_t>(got));
    }
}

// A key as a path segment: plain names as they are, anything else as a JSON string (which
// escapes control characters, so that the message stays on one line).
bool is_plain_name(std::string_view key)
{
    if (key.empty()) return false;
    for (const char c : key)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    return true;
}

// Where the parser is in the document, to name the object that holds a duplicate key. A
// frame holds only its own place (not its whole path), so that memory stays linear in the
// depth.
struct Frame {
    bool is_array = false;
    std::size_t next_index = 0;               // arrays: the index of the next element
    std::string key;                          // objects: the key whose value comes next
    std::set<std::string, std::less<>> keys;  // objects: keys seen so far
};

// The path of the value that the innermost open frame holds, built only when an error needs it.
std::string path_of_top(const std::vector<Frame>& frames)
{
    std::string path;
    for (std::size_t i = 0; i + 1 < frames.size(); ++i)
        path = frames[i].is_array ? element_path(path, frames[i].next_index)
                                  : member_path(path, frames[i].key);
    return path;
}

void element_done(std::vector<Frame>& frames)
{
    if (!frames.empty() && frames.back().is_array) ++frames.back().next_index;
}

// nlohmann's parse_error text is "[json.exception.parse_error.101] parse error at line L,
// column C: syntax error while parsing CONTEXT - DETAIL[; expected TOKEN]". When DETAIL comes
// from the lexer it ends in "; last read: '<the input's bytes>'": only the fixed wording
// before that excerpt and the expected token after it are kept.
std::string clean_reason(std::string_view what)
{
    if (const auto at = what.find("parse error"); at != std::string_view::npos) {
        if (const auto colon = what.find(": ", at); colon != std::string_view::npos)
            what.remove_prefix(colon + 2);
    }
    std::string reason(what);
    if (const auto excerpt = what.find("; last read: '"); excerpt != std::string_view::npos) {
        reason = std::string(what.substr(0, excerpt));
        static constexpr std::string_view tokens[] = {"true literal",
                                                      "false literal",
                                                      "null literal",
                                                      "string literal",
                                                      "number literal",
                                                      "'['",
                                                      "'{'",
                                                      "']'",
                                                      "'}'",
                                                      "':'",
                                                      "','",
                                                      "end of input",
                                                      "'[', '{', or a literal"};
        for (const auto token : tokens) {
            const auto suffix = fmt::format("'; expected {}", token);
            if (what.size() >= suffix.size() + excerpt &&
                what.substr(what.size() - suffix.size()) == suffix) {
                reason += fmt::format("; expected {}", token);
                break;
            }
        }
    }
    // The remaining text is nlohmann's own; keep it printable ASCII whatever it holds.
    for (auto& c : reason)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    return reason;
}

}  // namespace

std::string input_name(std::string_view path_or_dash)
{
    return path_or_dash == "-" ? "standard input" : std::string(path_or_dash);
}

std::string read_input(std::string_view path_or_dash)
{
    if (path_or_dash == "-") return read_all(STDIN_FILENO, input_name(path_or_dash));
    const std::string path(path_or_dash);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        if (error == ENOENT) throw Error(Exit::no_input, "{}: no such file", path);
        if (error == EACCES || error == EPERM)
            throw Error(Exit::no_perm, "cannot read {}: {}", path, std::strerror(error));
        throw Error(Exit::io, "cannot open {}: {}", path, std::strerror(error));
    }
    struct stat info {};
    if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
        ::close(fd);
        throw Error(Exit::data, "{} is a folder, not a file", path);
    }
    try {
        auto content = read_all(fd, path);
        ::close(fd);
        return content;
    } catch (...) {
        ::close(fd);
        throw;
    }
}

std::string element_path(std::string_view array_path, std::size_t index)
{
    return fmt::format("{}[{}]", array_path, index);
}

std::string member_path(std::string_view object_path, std::string_view key)
{
    if (!is_plain_name(key))
        return fmt::format("{}[{}]", object_path,
                           nlohmann::json(std::string(key))
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (object_path.empty()) return std::string(key);
    return fmt::format("{}.{}", object_path, key);
}

nlohmann::json parse_json(std::string_view text, std::string_view source)
{
    using Event = nlohmann::json::parse_event_t;
    std::vector<Frame> frames;
    const auto check = [&](int, Event event, nlohmann::json& parsed) {
        switch (event) {
        case Event::object_start:
        case Event::array_start: {
            if (frames.size() >= max_json_depth)
                throw Error(Exit::data, "{}: JSON nested deeper than {} levels", source,
                            max_json_depth);
            Frame frame;
            frame.is_array = event == Event::array_start;
            frames.push_back(std::move(frame));
            break;
        }
        case Event::object_end:
        case Event::array_end:
            frames.pop_back();
            element_done(frames);
            break;
        case Event::key: {
            auto& top = frames.back();
            top.key = parsed.get<std::string>();
            if (!top.keys.insert(top.key).second)
                throw Error(Exit::data, "{}: {}: key appears twice", source,
                            member_path(path_of_top(frames), top.key));
            break;
        }
        case Event::value: element_done(frames); break;
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text, check);
    } catch (const nlohmann::json::parse_error& error) {
        throw Error(Exit::data, "{}: malformed JSON at byte {}: {}", source, error.byte,
                    clean_reason(error.what()));
    } catch (const nlohmann::json::out_of_range&) {
        // The only one parsing throws: a number beyond a double's range (1e999), whose
        // message quotes the number.
        throw Error(Exit::data, "{}: malformed JSON: a number is out of range", source);
    }
}

// FieldReader ---------------------------------------------------------------------------------

FieldReader::FieldReader(const nlohmann::json& object, std::string path, std::string source,
                         Exit code)
    : m_object(object), m_path(std::move(path)), m_source(std::move(source)), m_code(code)
{
    if (!m_object.is_object())
        throw Error(m_code, "{}: {}: expected an object", m_source,
                    m_path.empty() ? std::string("the input") : m_path);
}

const nlohmann::json* FieldReader::value(std::string_view key)
{
    m_known.emplace(key);
    const auto found = m_object.find(key);
    return found == m_object.end() ? nullptr : &*found;
}

FieldReader FieldReader::object(std::string_view key)
{
    const auto* field = value(key);
    if (field == nullptr) fail(key, "required field is missing");
    if (!field->is_object()) fail(key, "expected an object");
    return FieldReader(*field, path_of(key), m_source, m_code);
}

void FieldReader::reject_unknown() const
{
    for (const auto& [key, field] : m_object.items())
        if (m_known.find(key) == m_known.end()) fail(key, "unknown key");
}

void FieldReader::fail(std::string_view key, std::string_view message) const
{
    throw Error(m_code, "{}: {}: {}", m_source, path_of(key), message);
}

std::int64_t FieldReader::signed_integer(const nlohmann::json& field, std::string_view key,
                                         std::int64_t min, std::int64_t max) const
{
    const bool in_range =
        field.is_number_integer() &&
        (field.is_number_unsigned()
             ? field.get<std::uint64_t>() <= static_cast<std::uint64_t>(max)
             : field.get<std::int64_t>() >= min && field.get<std::int64_t>() <= max);
    if (!in_range) fail(key, fmt::format("expected an integer from {} to {}", min, max));
    return field.get<std::int64_t>();
}

std::uint64_t FieldReader::unsigned_integer(const nlohmann::json& field, std::string_view key,
                                            std::uint64_t max) const
{
    const bool in_range = field.is_number_integer() &&
                          (field.is_number_unsigned()
                               ? field.get<std::uint64_t>() <= max
                               : field.get<std::int64_t>() >= 0 &&
                                     static_cast<std::uint64_t>(field.get<std::int64_t>()) <= max);
    if (!in_range) fail(key, fmt::format("expected an integer from 0 to {}", max));
    return field.get<std::uint64_t>();
}

}  // namespace common
