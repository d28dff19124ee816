#define BOOST_TEST_MODULE common_runs
#include <boost/test/unit_test.hpp>

#include "common/runs.hpp"
#include "common/schema.hpp"
#include "support/temp_dir.hpp"

#include <csignal>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <ostream>

namespace common {
std::ostream& operator<<(std::ostream& out, Liveness liveness)
{
    constexpr const char* names[] = {"alive", "gone", "unknown"};
    return out << names[static_cast<int>(liveness)];
}
}  // namespace common

using common::Database;
using common::Liveness;
using test_support::TempDir;

namespace {

// A process that has exited and been reaped: its identity is certainly gone.
common::ProcessIdentity finished_process()
{
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    common::ProcessIdentity identity{child, 0};
    int status = 0;
    ::waitpid(child, &status, 0);
    return identity;
}

void add_running_batch(Database& db, std::int64_t batch, const common::ProcessIdentity& owner)
{
    auto insert_batch = db.prepare("INSERT INTO spawn_batches (batch_id, spec_id, stage, mode, "
                                   "agent_count, owner_pid, owner_start) "
                                   "VALUES (?, 'SPEC-KIT-1', 'plan', 'parallel', 1, ?, ?)");
    insert_batch.bind(1, batch)
        .bind(2, static_cast<std::int64_t>(owner.pid))
        .bind(3, static_cast<std::int64_t>(owner.start_ticks))
        .run();
    auto insert_run = db.prepare(
        "INSERT INTO agent_executions (agent_id, spec_id, stage, phase_type, agent_name, "
        "batch_id, outcome) VALUES (?, 'SPEC-KIT-1', 'plan', 'regular_stage', 'gemini', ?, "
        "'running')");
    insert_run.bind(1, "agent-" + std::to_string(batch)).bind(2, batch).run();
}

// /proc as hidepid or another pid namespace leaves it: nothing can be read.
std::optional<common::ProcessStat> unreadable_proc(pid_t)
{
    return std::nullopt;
}

// The liveness of `process` as seen by an unprivileged user (nobody) who cannot read /proc.
int liveness_as_nobody(const common::ProcessIdentity& process)
{
    const pid_t child = ::fork();
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(100);
        ::_exit(static_cast<int>(common::process_liveness(process, unreadable_proc)));
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

BOOST_AUTO_TEST_CASE(this_process_is_running)
{
    BOOST_TEST(common::process_liveness(common::current_process()) == Liveness::alive);
}

BOOST_AUTO_TEST_CASE(a_reused_pid_is_another_process)
{
    auto self = common::current_process();
    self.start_ticks += 1;
    BOOST_TEST(common::process_liveness(self) == Liveness::gone);
}

BOOST_AUTO_TEST_CASE(a_finished_process_is_gone)
{
    BOOST_TEST(common::process_liveness(finished_process()) == Liveness::gone);
    BOOST_TEST(common::process_liveness(finished_process(), unreadable_proc) == Liveness::gone);
}

BOOST_AUTO_TEST_CASE(a_live_process_is_alive_when_proc_cannot_be_read)
{
    BOOST_TEST(common::process_liveness(common::current_process(), unreadable_proc) ==
               Liveness::alive);
}

BOOST_AUTO_TEST_CASE(a_process_of_another_user_is_alive)
{
    // kill(pid, 0) from nobody on root's process fails with EPERM: it exists.
    if (::geteuid() != 0) {
        BOOST_TEST(common::process_liveness({1, 0}, unreadable_proc) == Liveness::alive);
        return;
    }
    BOOST_TEST(liveness_as_nobody(common::current_process()) == static_cast<int>(Liveness::alive));
}

BOOST_AUTO_TEST_CASE(an_unreaped_child_is_gone)
{
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    const auto identity = common::ProcessIdentity{child, 0};
    // Wait until it has exited without reaping it.
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT);
    BOOST_TEST(common::process_liveness(identity) == Liveness::gone);
    int status = 0;
    ::waitpid(child, &status, 0);
}

BOOST_AUTO_TEST_CASE(the_stat_of_a_process_named_with_parentheses_and_spaces_is_read)
{
    // The command name may hold ") " itself: the fields are read after the last ')'.
    int ready[2];
    BOOST_REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
        ::prctl(PR_SET_NAME, "a) S 1 (b");
        char byte = 0;
        if (::write(ready[1], &byte, 1) == 1) ::pause();
        ::_exit(0);
    }
    char byte = 0;
    BOOST_REQUIRE(::read(ready[0], &byte, 1) == 1);
    const auto self = common::read_process_stat(::getpid());
    const auto stat = common::read_process_stat(child);
    BOOST_REQUIRE(self.has_value());
    BOOST_REQUIRE(stat.has_value());
    BOOST_TEST(stat->parent == ::getpid());
    BOOST_TEST(!stat->zombie);
    // Started after this process, in clock ticks since boot.
    BOOST_TEST(stat->start_ticks >= self->start_ticks);
    BOOST_TEST(stat->start_ticks > 0U);

    ::kill(child, SIGKILL);
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT);
    const auto ended = common::read_process_stat(child);
    BOOST_REQUIRE(ended.has_value());
    BOOST_TEST(ended->zombie);
    BOOST_TEST(ended->start_ticks == stat->start_ticks);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(ready[0]);
    ::close(ready[1]);
    BOOST_TEST(!common::read_process_stat(child).has_value());
}

BOOST_AUTO_TEST_CASE(an_invalid_pid_is_unknown)
{
    BOOST_TEST(common::process_liveness({0, 0}) == Liveness::unknown);
    BOOST_TEST(common::process_liveness({-1, 0}) == Liveness::unknown);
}

BOOST_AUTO_TEST_CASE(runs_of_a_dead_spawner_are_marked_lost_and_live_ones_kept)
{
    TempDir dir;
    auto db = Database::open(dir / "t.db", {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    add_running_batch(db, 1, finished_process());
    add_running_batch(db, 2, common::current_process());

    BOOST_TEST(common::mark_lost_runs(db) == 1);
    BOOST_TEST(db.query_text("SELECT outcome FROM agent_executions WHERE batch_id = 1") == "lost");
    BOOST_TEST(
        db.query_int("SELECT completed_at IS NOT NULL FROM agent_executions WHERE batch_id = 1") ==
        1);
    BOOST_TEST(
        db.query_int("SELECT finished_at IS NOT NULL FROM spawn_batches WHERE batch_id = 1") == 1);
    BOOST_TEST(db.query_text("SELECT outcome FROM agent_executions WHERE batch_id = 2") ==
               "running");
    BOOST_TEST(common::mark_lost_runs(db) == 0);
}

BOOST_AUTO_TEST_CASE(an_owner_of_unknown_liveness_is_never_marked_lost)
{
    TempDir dir;
    auto db = Database::open(dir / "t.db", {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    add_running_batch(db, 1, finished_process());
    const auto unknown = [](const common::ProcessIdentity&) { return Liveness::unknown; };
    BOOST_TEST(common::mark_lost_runs(db, {}, unknown) == 0);
    BOOST_TEST(db.query_text("SELECT outcome FROM agent_executions") == "running");
    BOOST_TEST(db.query_int("SELECT count(*) FROM spawn_batches WHERE finished_at IS NULL") == 1);
}

BOOST_AUTO_TEST_CASE(a_batch_whose_agents_finished_before_its_spawner_died_is_finished)
{
    TempDir dir;
    auto db = Database::open(dir / "t.db", {.mode = common::OpenMode::create});
    common::schema::migrate(db);
    add_running_batch(db, 1, finished_process());
    db.exec("UPDATE agent_executions SET outcome = 'success', completed_at = datetime('now')");

    BOOST_TEST(common::mark_lost_runs(db) == 0);
    BOOST_TEST(db.query_int("SELECT finished_at IS NOT NULL FROM spawn_batches") == 1);
    BOOST_TEST(db.query_int("SELECT successes FROM spawn_batches") == 1);
    // Never measured, so not made up.
    BOOST_TEST(!db.query_optional_int("SELECT batch_wall_us FROM spawn_batches").has_value());
    BOOST_TEST(db.query_text("SELECT outcome FROM agent_executions") == "success");
}
