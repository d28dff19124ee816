#include "integrity.hpp"

#include "common/clock.hpp"
#include "common/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

namespace db_vacuum {
namespace {

using common::Database;
using common::Exit;

// The answer of one check statement: "ok", or its problems; a page too damaged to read ends
// the check, and what it found until then still counts.
std::vector<std::string> answer_of(const Database& db, const std::string& sql)
{
    std::vector<std::string> answer;
    try {
        auto statement = db.prepare(sql);
        while (statement.step())
            answer.push_back(statement.column_text(0));
    } catch (const common::SqliteError& error) {
        if (error.code() != Exit::data) throw;
        answer.push_back(error.what());
    }
    return answer;
}

bool is_ok(const std::vector<std::string>& answer)
{
    return answer.size() == 1 && answer.front() == "ok";
}

std::string quoted_identifier(const std::string& name)
{
    std::string out = "\"";
    for (const char c : name) {
        out += c;
        if (c == '"') out += '"';
    }
    return out + "\"";
}

// One statement per table (tables with more indexes first, as they take longest), and
// quick_check for the free list and the pages no table claims.
std::vector<std::string> check_statements(const Database& db)
{
    std::vector<std::string> statements;
    auto tables = db.prepare(
        "SELECT t.name FROM sqlite_schema AS t WHERE t.type = 'table' AND t.rootpage > 0 "
        "ORDER BY (SELECT count(*) FROM sqlite_schema AS i WHERE i.type = 'index' "
        "AND i.tbl_name = t.name) DESC, t.name");
    while (tables.step())
        statements.push_back(
            fmt::format("PRAGMA integrity_check({})", quoted_identifier(tables.column_text(0))));
    statements.emplace_back("PRAGMA quick_check(100)");
    return statements;
}

// Runs `statements` on `connections` read-only connections, each taking the next statement
// when it is done with one. Returns the answers in the order of `statements`.
std::vector<std::vector<std::string>> run_spread(const Database& db,
                                                 const std::vector<std::string>& statements,
                                                 unsigned connections,
                                                 const std::atomic<bool>* stop)
{
    std::vector<std::vector<std::string>> answers(statements.size());
    std::atomic<std::size_t> next{0};
    std::mutex failure_mutex;
    std::exception_ptr failure;
    const auto work = [&] {
        try {
            auto own = Database::open(db.path(), {.mode = common::OpenMode::read_only,
                                                  .busy_timeout_ms = db.busy_timeout_ms(),
                                                  .stop = stop});
            own.interrupt_when(stop);
            const MappedReads mapped(own);
            for (auto index = next++; index < statements.size(); index = next++)
                answers[index] = answer_of(own, statements[index]);
        } catch (...) {
            const std::lock_guard lock(failure_mutex);
            if (!failure) failure = std::current_exception();
            next = statements.size();
        }
    };
    std::vector<std::jthread> workers;
    const auto count = std::min<std::size_t>(connections, statements.size());
    for (std::size_t i = 1; i < count; ++i)
        workers.emplace_back(work);
    work();
    workers.clear();
    if (failure) std::rethrow_exception(failure);
    return answers;
}

}  // namespace

MappedReads::MappedReads(const Database& db) : m_db(db)
{
    db.query_int(fmt::format("PRAGMA mmap_size={}", mmap_limit));
}

MappedReads::~MappedReads()
{
    try {
        m_db.query_int("PRAGMA mmap_size=0");
    } catch (const std::exception&) {
        // The connection is failing already: what failed it is what the caller hears of.
    }
}

CheckResult run_check(const Database& db, CheckKind kind, unsigned connections,
                      const std::atomic<bool>* stop)
{
    const common::Stopwatch watch;
    CheckResult check;
    check.kind = kind;
    std::vector<std::vector<std::string>> answers;
    if (kind == CheckKind::full && connections > 1)
        answers = run_spread(db, check_statements(db), connections, stop);
    else {
        const MappedReads mapped(db);
        answers.push_back(answer_of(db, kind == CheckKind::full ? "PRAGMA integrity_check(100)"
                                                                : "PRAGMA quick_check(100)"));
    }
    // quick_check repeats what the per-table checks also find (a NULL in a NOT NULL column).
    const auto add = [&](const std::string& problem) {
        if (std::ranges::find(check.problems, problem) == check.problems.end())
            check.problems.push_back(problem);
    };
    for (const auto& answer : answers) {
        if (answer.empty())
            add("the check returned nothing");
        else if (!is_ok(answer))
            std::ranges::for_each(answer, add);
    }
    check.duration_ms = watch.elapsed_ms();
    return check;
}

unsigned usable_cores()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

}  // namespace db_vacuum
