#include "common/log.hpp"

#include "common/output.hpp"

#include <fmt/format.h>

namespace common {

Log::Log(std::string_view tool, std::ostream& err, const SharedOptions& shared)
    : m_tool(tool), m_err(&err), m_quiet(shared.quiet), m_verbose(shared.verbose)
{
}

void Log::step(std::string_view message) const
{
    if (m_verbose) *m_err << fmt::format("{}: {}\n", m_tool, printable(message)) << std::flush;
}

void Log::note(std::string_view message) const
{
    if (!m_quiet) *m_err << fmt::format("{}: {}\n", m_tool, printable(message)) << std::flush;
}

RetryPolicy Log::retry_policy() const
{
    RetryPolicy policy;
    if (!m_verbose) return policy;
    const auto attempts = policy.attempts;
    policy.on_retry = [this, attempts](int attempt, std::chrono::milliseconds wait,
                                       const SqliteError&) {
        step(fmt::format("busy, retrying in {} ms, attempt {} of {}", wait.count(), attempt,
                         attempts));
    };
    return policy;
}

}  // namespace common
