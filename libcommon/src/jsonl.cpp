#include "common/jsonl.hpp"

#include "common/error.hpp"

namespace common {

void JsonLinesWriter::write(const Json& value)
{
    if (m_out) {
        m_out << json_line(value);
        m_out.flush();
    }
    if (!m_out) throw Error(Exit::io, "cannot write to {}", m_name);
}

}  // namespace common
