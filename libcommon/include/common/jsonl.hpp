#pragma once
// JSON Lines streams: one compact JSON object per line, as spawn-agents writes its events and
// metrics-report reads them.

#include "common/json.hpp"

#include <ostream>
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

    // Writes `value` and a newline and flushes. Throws Error 74 when the write or the flush
    // fails (a full disk, a closed pipe); the stream stays failed.
    void write(const Json& value);

private:
    std::ostream& m_out;
    std::string m_name;
};

}  // namespace common
