#define BOOST_TEST_MODULE evidence_prune_signals
#include <boost/test/unit_test.hpp>

#include "common/process.hpp"
#include "common/schema.hpp"
#include "evidence_tree.hpp"

#include <csignal>
#include <sys/wait.h>
#include <thread>

namespace {

using namespace evidence_tree;

const std::vector<std::string> members{"consensus/SPEC-KIT-100/a.json",
                                       "consensus/SPEC-KIT-100/b.json",
                                       "commands/SPEC-KIT-100/c.json"};
const std::string archive_name = "archives/SPEC-KIT-100-20260501.tar.gz";

// An archive of the spec's three files in archives/, the originals gone, as a run leaves it,
// and the database at the current schema.
void archived_tree(const Tree& tree)
{
    std::vector<evidence_prune::FileRecord> files;
    const auto root = common::TreeRoot::open(tree.root);
    for (const auto& name : members) {
        put(tree.root, name, 40);
        const auto info = root.stat(name);
        files.push_back({name, info->size, info->mtime_ns, info->inode, info->mode});
    }
    fs::create_directories(tree.root / "archives");
    evidence_prune::write_archive(root, archive_name, files);
    for (const auto& name : members)
        fs::remove(tree.root / name);
    auto db = common::Database::open(tree.db, {.mode = common::OpenMode::create});
    common::schema::migrate(db);
}

// The test build of evidence-prune running in the background, its output going to files.
class Background {
public:
    Background(const Tree& tree, std::vector<std::string> args,
               const std::map<std::string, std::string>& extra = {})
        : m_out(tree.dir / "out.jsonl"), m_err(tree.dir / "err.txt")
    {
        auto env = test_support::isolated_environment(tree.dir);
        env.insert(extra.begin(), extra.end());
        m_command.emplace_back(EVIDENCE_PRUNE_TEST_BIN);
        for (auto& arg : args)
            m_command.push_back(std::move(arg));
        const auto environment = common::environment_with(env);
        std::vector<char*> argv;
        for (auto& arg : m_command)
            argv.push_back(arg.data());
        argv.push_back(nullptr);
        std::vector<char*> envp;
        for (const auto& entry : environment)
            envp.push_back(const_cast<char*>(entry.c_str()));
        envp.push_back(nullptr);
        m_pid = ::fork();
        BOOST_REQUIRE(m_pid >= 0);
        if (m_pid == 0) {
            const int out = ::open(m_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            const int err = ::open(m_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
    }
    ~Background()
    {
        if (m_pid > 0 && !m_reaped) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }

    // Waits until `ready` holds; false when the process ended first.
    bool wait_until(const std::function<bool()>& ready)
    {
        while (!ready()) {
            if (::waitpid(m_pid, &m_status, WNOHANG) == m_pid) {
                m_reaped = true;
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return true;
    }

    void signal(int number) { ::kill(m_pid, number); }

    // Its exit code (128 + signal when a signal ended it).
    int finish()
    {
        if (!m_reaped) BOOST_REQUIRE(::waitpid(m_pid, &m_status, 0) == m_pid);
        m_reaped = true;
        return WIFEXITED(m_status) ? WEXITSTATUS(m_status) : 128 + WTERMSIG(m_status);
    }

    std::string err() const { return file_bytes(m_err); }
    json summary() const
    {
        const auto out = file_bytes(m_out);
        const auto last = out.rfind('\n', out.size() - 2);
        return json::parse(out.substr(last == std::string::npos ? 0 : last + 1));
    }

private:
    std::vector<std::string> m_command;
    fs::path m_out;
    fs::path m_err;
    pid_t m_pid = -1;
    int m_status = 0;
    bool m_reaped = false;
};

// Another process's write transaction on `path`, held for as long as the object lives.
struct HeldDatabase {
    common::Database db;
    explicit HeldDatabase(const fs::path& path) : db(common::Database::open(path))
    {
        db.exec("BEGIN IMMEDIATE");
    }
    ~HeldDatabase() { db.exec("ROLLBACK"); }
};

bool any_restored(const Tree& tree)
{
    return std::any_of(members.begin(), members.end(),
                       [&](const auto& name) { return fs::exists(tree.root / name); });
}

std::int64_t runs(const Tree& tree, const std::string& where = "1")
{
    return tree.query("SELECT count(*) FROM maintenance_runs WHERE " + where);
}

// A busy timeout longer than any test may take: a run that does not answer the signal
// during its wait for the database hangs, instead of passing late.
const std::string forever_ms = "3600000";

void check_restore_stopped_while_the_database_is_held(int signal)
{
    Tree tree;
    archived_tree(tree);
    int code = -1;
    std::string err;
    {
        HeldDatabase held(tree.db);
        Background run(tree, {"--evidence", tree.root.string(), "--db", tree.db.string(),
                              "--busy-timeout", forever_ms, "--restore",
                              (tree.root / archive_name).string()});
        // Once a member is back, the run is restoring or waiting to record the restore.
        BOOST_REQUIRE_MESSAGE(run.wait_until([&] { return any_restored(tree); }), run.err());
        run.signal(signal);
        code = run.finish();
        err = run.err();
        BOOST_TEST(run.summary()["files_restored"] == 0);
        BOOST_TEST(run.summary()["interrupted"] == (signal == SIGINT ? "SIGINT" : "SIGTERM"));
    }
    BOOST_TEST(code == 128 + signal, err);
    BOOST_TEST(!any_restored(tree));
    BOOST_TEST(fs::exists(tree.root / archive_name));
    // The database was held the whole time: nothing could be recorded, and nothing claims so.
    BOOST_TEST(runs(tree) == 0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigterm_while_a_restore_waits_on_a_held_database_removes_what_it_wrote)
{
    check_restore_stopped_while_the_database_is_held(SIGTERM);
}

BOOST_AUTO_TEST_CASE(sigint_while_a_restore_waits_on_a_held_database_removes_what_it_wrote)
{
    check_restore_stopped_while_the_database_is_held(SIGINT);
}

BOOST_AUTO_TEST_CASE(a_signal_between_restored_members_undoes_the_restore_and_records_it)
{
    for (const auto& [hook, signal] : std::vector<std::pair<std::string, int>>{
             {"restored", SIGTERM}, {"restored:INT", SIGINT}}) {
        Tree tree;
        archived_tree(tree);
        const auto result = test_support::run_process(
            {EVIDENCE_PRUNE_TEST_BIN, "--evidence", tree.root.string(), "--db", tree.db.string(),
             "--restore", (tree.root / archive_name).string()},
            {}, [&] {
                auto env = test_support::isolated_environment(tree.dir);
                env["SPEC_HYGIENE_TEST_SIGNAL_AT"] = hook;
                return env;
            }());
        BOOST_TEST(result.exit_code == 128 + signal, hook << ": " << result.err);
        BOOST_TEST(!any_restored(tree), hook);
        BOOST_TEST(result.out.find("\"action\":\"restore\"") == std::string::npos, hook);
        // What was done is recorded: a restore stopped, nothing restored.
        BOOST_TEST(runs(tree, "outcome = 'failed' AND summary LIKE '%\"files_restored\":0%' AND "
                              "summary LIKE '%interrupted%'") == 1,
                   hook);
    }
}

BOOST_AUTO_TEST_CASE(sigterm_while_a_run_waits_on_a_held_database_stops_it_and_loses_nothing)
{
    Tree tree;
    for (const auto& name : members) {
        put(tree.root, name, 0);
        const timespec times[2] = {{::time(nullptr) - 40 * day, 0},
                                   {::time(nullptr) - 40 * day, 0}};
        BOOST_REQUIRE(::utimensat(AT_FDCWD, (tree.root / name).c_str(), times, 0) == 0);
    }
    {
        auto db = common::Database::open(tree.db, {.mode = common::OpenMode::create});
        common::schema::migrate(db);
    }
    int code = -1;
    std::string err;
    {
        HeldDatabase held(tree.db);
        Background run(tree, {"--evidence", tree.root.string(), "--db", tree.db.string(),
                              "--busy-timeout", forever_ms});
        // The archive is written before it is recorded: the run is at, or about to start,
        // its wait for the database.
        const auto archives = tree.root / "archives";
        BOOST_REQUIRE_MESSAGE(run.wait_until([&] {
            std::error_code ec;
            for (const auto& entry : fs::directory_iterator(archives, ec))
                if (entry.path().filename().string().ends_with(".tar.gz")) return true;
            return false;
        }),
                              run.err());
        run.signal(SIGTERM);
        code = run.finish();
        err = run.err();
        BOOST_TEST(run.summary()["interrupted"] == "SIGTERM");
    }
    BOOST_TEST(code == 143, err);
    // The archive could not be recorded: it went, and every original is still in place.
    for (const auto& name : members)
        BOOST_TEST(fs::exists(tree.root / name), name);
    std::size_t archives = 0;
    for (const auto& entry : fs::directory_iterator(tree.root / "archives"))
        archives += entry.path().filename().string().ends_with(".tar.gz");
    BOOST_TEST(archives == 0u);
}
