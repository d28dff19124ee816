// db-vacuum stopped by SIGINT or SIGTERM while it waits: it answers at once, not after the
// busy timeout, leaves the database as SQLite guarantees and none of its temporaries, records
// the run when it can and exits 130 or 143.

#define BOOST_TEST_MODULE test_cli_db_vacuum_signals
#include <boost/test/unit_test.hpp>

#include "common/process.hpp"
#include "db_vacuum_cli.hpp"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <optional>
#include <thread>
#include <unistd.h>

using namespace db_vacuum_cli;
using namespace std::chrono_literals;

namespace {

// db-vacuum running in the background, its stderr going to a file that a test can read while
// it runs.
class Running {
public:
    Running(const Sandbox& sandbox, const std::vector<std::string>& args)
        : m_stderr(sandbox.dir / "stderr.txt")
    {
        std::vector<std::string> argv{DB_VACUUM_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        const int fd = ::open(m_stderr.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        BOOST_TEST_REQUIRE(fd >= 0);
        const auto started =
            m_children.start({.argv = argv,
                              .environment = common::environment_with(sandbox.environment()),
                              .stderr_fd = fd});
        ::close(fd);
        BOOST_TEST_REQUIRE(started.ok(), started.message);
        m_pid = started.pid;
    }

    pid_t pid() const { return m_pid; }
    bool finished() const { return m_finished.has_value(); }
    const common::FinishedChild& result() const { return *m_finished; }
    std::string err() const { return file_bytes(m_stderr); }

    // Waits (up to ~60 s, pumping the child's output) until `ready` holds or the child ends;
    // returns whether `ready` held.
    template <typename Ready> bool until(Ready ready)
    {
        for (int i = 0; i < 6000; ++i) {
            if (ready()) return true;
            if (finished()) return false;
            pump(10ms);
        }
        return false;
    }

    // Sends `signal` and waits (up to ~60 s) for the end; returns whether it came.
    bool stop(int signal)
    {
        ::kill(m_pid, signal);
        return until([] { return false; }) || finished();
    }

    // Waits for the end; the caller has made sure it comes (the child was signalled).
    const common::FinishedChild& finish()
    {
        while (!finished())
            pump(100ms);
        return result();
    }

private:
    void pump(std::chrono::milliseconds for_at_most)
    {
        for (auto& child : m_children.wait(for_at_most).finished)
            m_finished = std::move(child);
    }

    fs::path m_stderr;
    common::ProcessSet m_children;
    pid_t m_pid = -1;
    std::optional<common::FinishedChild> m_finished;
};

// True when process `pid` has `file` open: it is past its start and inside its work.
bool has_open(pid_t pid, const fs::path& file)
{
    std::error_code ec;
    const auto wanted = fs::canonical(file, ec);
    for (const auto& entry : fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
        std::error_code link_ec;
        if (fs::read_symlink(entry.path(), link_ec) == wanted) return true;
    }
    return false;
}

// The code it exited with; -1 when a signal killed it, which is what the tool must prevent.
int exit_code_of(const common::FinishedChild& child)
{
    return child.exit_code.value_or(-1);
}

std::vector<fs::path> entries_of(const fs::path& folder)
{
    std::vector<fs::path> names;
    for (const auto& entry : fs::directory_iterator(folder))
        names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(db_vacuum_cli_signals, Sandbox)

BOOST_AUTO_TEST_CASE(sigterm_while_a_writer_holds_the_database_is_143_at_once_and_changes_nothing)
{
    const auto db = make_database("held.db");
    const auto before = database_contents(db);
    const auto pages = query_int(db, "PRAGMA page_count");
    auto writer = Database::open(db);
    common::Transaction hold(writer);

    Running tool(*this, {"--db", db.string(), "--full", "--busy-timeout", "600000"});
    BOOST_TEST_REQUIRE(tool.until([&] { return has_open(tool.pid(), db); }), tool.err());
    // Answered while the database is still held, not after the ten-minute busy timeout.
    const bool answered = tool.stop(SIGTERM);
    hold.rollback();
    const auto& result = tool.finish();

    BOOST_TEST_REQUIRE(answered);
    BOOST_TEST(exit_code_of(result) == 143, tool.err());
    BOOST_TEST(contains(tool.err(), "db-vacuum: stopped by SIGTERM"), tool.err());
    check_same_contents(before, database_contents(db));
    BOOST_TEST(query_int(db, "PRAGMA page_count") == pages);
    BOOST_TEST(query_int(db, "SELECT count(*) FROM maintenance_runs") == 0);
}

BOOST_AUTO_TEST_CASE(sigint_while_a_reader_keeps_a_journal_database_from_wal_is_130_and_unchanged)
{
    const auto db = make_database("journal.db", 2, true, "delete");
    const auto before = file_bytes(db);
    HeldReader reader(db);

    Running tool(*this, {"--db", db.string(), "--migrate", "--busy-timeout", "600000", "--json"});
    BOOST_TEST_REQUIRE(tool.until([&] { return has_open(tool.pid(), db); }), tool.err());
    const bool answered = tool.stop(SIGINT);
    reader.release();
    const auto& result = tool.finish();

    BOOST_TEST_REQUIRE(answered);
    BOOST_TEST(exit_code_of(result) == 130, tool.err());
    BOOST_TEST(contains(tool.err(), "db-vacuum: stopped by SIGINT"), tool.err());
    BOOST_TEST((file_bytes(db) == before));
    BOOST_TEST(!fs::exists(db.string() + "-wal"));
    // Stopped while it waited to switch the file to WAL: the report still says so.
    const auto report = json::parse(result.out);
    BOOST_TEST(report.at("interrupted") == "SIGINT");
    BOOST_TEST(report.at("steps").empty());
    BOOST_TEST(report.at("before").at("journal_mode") == "delete");
}

BOOST_AUTO_TEST_CASE(sigterm_during_the_checkpoint_retries_records_the_stopped_run)
{
    const auto db = make_database("reader.db");
    HeldReader reader(db);

    Running tool(*this,
                 {"--db", db.string(), "--migrate", "--verbose", "--busy-timeout", "600000"});
    BOOST_TEST_REQUIRE(tool.until([&] { return contains(tool.err(), "vacuum done"); }), tool.err());
    const bool answered = tool.stop(SIGTERM);
    reader.release();
    const auto& result = tool.finish();

    BOOST_TEST_REQUIRE(answered);
    BOOST_TEST(exit_code_of(result) == 143, tool.err());
    const auto report = parse_report({0, result.out, tool.err()});
    BOOST_TEST(report.at("interrupted") == "SIGTERM");
    BOOST_TEST(has_step(report, "vacuum"));
    BOOST_TEST(!has_step(report, "checkpoint"));
    // The VACUUM committed before the signal stays, as SQLite keeps every commit.
    BOOST_TEST(query_int(db, "PRAGMA auto_vacuum") == 2);
    BOOST_TEST(query_int(db, "SELECT count(*) FROM maintenance_runs WHERE tool = 'db-vacuum' "
                             "AND outcome = 'failed' AND json_extract(summary, '$.error') = "
                             "'stopped by SIGTERM'") == 1);
}

BOOST_AUTO_TEST_CASE(sigterm_during_a_backup_leaves_no_partial_copy)
{
    const auto db = make_database("backup.db", 64);
    const auto backups = dir / "backups";
    fs::create_directory(backups);
    auto writer = Database::open(db);
    common::Transaction hold(writer);

    // The backup only reads; the VACUUM after it waits for the writer. The signal lands in
    // one or the other, and either way no temporary copy stays behind.
    Running tool(*this, {"--db", db.string(), "--full", "--backup", (backups / "copy.db").string(),
                         "--busy-timeout", "600000"});
    BOOST_TEST_REQUIRE(tool.until([&] { return !entries_of(backups).empty(); }), tool.err());
    const bool answered = tool.stop(SIGTERM);
    hold.rollback();
    const auto& result = tool.finish();

    BOOST_TEST_REQUIRE(answered);
    BOOST_TEST(exit_code_of(result) == 143, tool.err());
    const auto left = entries_of(backups);
    BOOST_TEST((left.empty() || left == std::vector<fs::path>{"copy.db"}),
               fmt::format("{}", left.size()));
    if (left == std::vector<fs::path>{"copy.db"})
        BOOST_TEST(query_int(backups / "copy.db", "SELECT count(*) FROM consensus_runs") ==
                   query_int(db, "SELECT count(*) FROM consensus_runs"));
}

BOOST_AUTO_TEST_SUITE_END()
