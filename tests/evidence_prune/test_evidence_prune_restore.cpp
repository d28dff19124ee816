#define BOOST_TEST_MODULE evidence_prune_restore
#include <boost/test/unit_test.hpp>

#include "common/digest.hpp"
#include "evidence_tree.hpp"

namespace {

using namespace evidence_tree;

struct Entry {
    std::string path;
    std::string content;
    std::uint32_t mode = 0644;
};

// A tar.gz of `entries`, then (unless empty) a checksum list made of `manifest`.
void make_archive(const fs::path& file, const std::vector<Entry>& entries,
                  const std::string& manifest)
{
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    BOOST_REQUIRE(fd >= 0);
    {
        common::ArchiveWriter writer(fd, file.string());
        for (const auto& entry : entries) {
            writer.begin({.path = entry.path,
                          .size = entry.content.size(),
                          .mtime_ns = (now_s - 40 * day) * 1'000'000'000,
                          .mode = entry.mode,
                          .sha256 = {}});
            writer.write(entry.content);
        }
        if (!manifest.empty()) {
            writer.begin({.path = std::string(evidence_prune::manifest_name),
                          .size = manifest.size(),
                          .mtime_ns = 0,
                          .mode = 0600,
                          .sha256 = {}});
            writer.write(manifest);
        }
        writer.finish();
    }
    ::close(fd);
}

std::string manifest_of(const std::vector<Entry>& entries)
{
    std::string text;
    for (const auto& entry : entries)
        text += common::sha256_hex(entry.content) + "  " + entry.path + "\n";
    return text;
}

// Runs --restore of `archive`; the exit code the error carries, or 0.
int restore(const Tree& tree, const fs::path& archive, bool force = false)
{
    auto options = tree.options(Mode::restore);
    options.restore_archive = archive;
    options.force_unverified = force;
    try {
        return tree.run(options).code;
    } catch (const common::Error& error) {
        return static_cast<int>(error.code());
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_plain_tar_with_a_setuid_file_is_refused_unless_forced_and_then_masked)
{
    Tree tree;
    const auto archive = tree.dir / "plain.tar.gz";
    make_archive(archive, {{"consensus/SPEC-KIT-100/run.sh", "#!/bin/sh\n", 04755}}, "");
    const auto before = snapshot(tree.root);
    BOOST_TEST(restore(tree, archive) == 65);
    BOOST_TEST((snapshot(tree.root) == before));

    BOOST_TEST(restore(tree, archive, true) == 0);
    struct stat status {};
    BOOST_REQUIRE(::stat((tree.root / "consensus/SPEC-KIT-100/run.sh").c_str(), &status) == 0);
    BOOST_TEST((status.st_mode & 07777) == 0755u);
}

BOOST_AUTO_TEST_CASE(members_outside_the_spec_folders_are_refused_and_nothing_written)
{
    for (const auto* bad : {".locks/x", "../x", "archives/EVIL.tar.gz", "x",
                            "consensus/not-a-spec/x", "commands/SPEC-KIT-100"}) {
        Tree tree;
        const std::vector<Entry> entries{{"consensus/SPEC-KIT-100/a.json", "a"}, {bad, "evil"}};
        const auto archive = tree.dir / "evil.tar.gz";
        make_archive(archive, entries, manifest_of(entries));
        const auto before = snapshot(tree.root);
        BOOST_TEST(restore(tree, archive) == 65, bad);
        BOOST_TEST((snapshot(tree.root) == before), bad);
        BOOST_TEST(!fs::exists(tree.dir / "x"), bad);
    }
}

BOOST_AUTO_TEST_CASE(a_symlink_member_is_refused_and_nothing_written)
{
    Tree tree;
    const auto staging = tree.dir / "staging";
    fs::create_directories(staging / "consensus/SPEC-KIT-100");
    write_file(staging / "consensus/SPEC-KIT-100/a.json", "a");
    fs::create_symlink("/etc/passwd", staging / "consensus/SPEC-KIT-100/link");
    const auto archive = tree.dir / "link.tar.gz";
    BOOST_REQUIRE(test_support::run_process(
                      {"tar", "czf", archive.string(), "-C", staging.string(), "consensus"})
                      .exit_code == 0);
    const auto before = snapshot(tree.root);
    BOOST_TEST(restore(tree, archive, true) == 65);
    BOOST_TEST((snapshot(tree.root) == before));
}

BOOST_AUTO_TEST_CASE(a_wrong_checksum_on_a_later_member_restores_nothing)
{
    Tree tree;
    const std::vector<Entry> entries{{"consensus/SPEC-KIT-100/a.json", "a"},
                                     {"consensus/SPEC-KIT-100/b.json", "b"}};
    auto manifest = manifest_of(entries);
    manifest.replace(manifest.rfind('\n', manifest.size() - 2) + 1, 64, std::string(64, '0'));
    const auto archive = tree.dir / "wrong.tar.gz";
    make_archive(archive, entries, manifest);
    const auto before = snapshot(tree.root);
    BOOST_TEST(restore(tree, archive) == 65);
    BOOST_TEST((snapshot(tree.root) == before));
}

BOOST_AUTO_TEST_CASE(a_blocked_later_member_removes_what_the_run_restored)
{
    Tree tree;
    const std::vector<Entry> entries{{"consensus/SPEC-KIT-100/a.json", "a"},
                                     {"consensus/SPEC-KIT-200/b.json", "b"}};
    const auto archive = tree.dir / "blocked.tar.gz";
    make_archive(archive, entries, manifest_of(entries));
    // A file where the second member's folder must be created.
    put(tree.root, "consensus/SPEC-KIT-200", 1, "in the way");
    BOOST_TEST(restore(tree, archive) != 0);
    BOOST_TEST(!fs::exists(tree.root / "consensus/SPEC-KIT-100/a.json"));
    BOOST_TEST(file_bytes(tree.root / "consensus/SPEC-KIT-200") == "in the way");
}

BOOST_AUTO_TEST_CASE(a_fifo_in_place_of_the_archive_is_refused_without_blocking)
{
    Tree tree;
    const auto fifo = tree.dir / "fifo.tar.gz";
    BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    BOOST_TEST(restore(tree, fifo) == 65);
}

namespace {

// An application's own database at `db`, with one table of its own.
void make_application_database(const fs::path& db)
{
    auto database = common::Database::open(db, {.mode = common::OpenMode::create});
    database.exec("CREATE TABLE app_users (id INTEGER PRIMARY KEY, name TEXT)");
}

std::int64_t table_count(const fs::path& db)
{
    return common::Database::open(db, {.mode = common::OpenMode::read_only})
        .query_int("SELECT count(*) FROM sqlite_master");
}

// --apply of a plan file holding `text`; the exit code the error carries, or 0.
int apply(const Tree& tree, const std::string& text)
{
    auto options = tree.options(Mode::apply);
    options.plan_file = tree.dir / "plan.jsonl";
    write_file(options.plan_file, text);
    try {
        return tree.run(options).code;
    } catch (const common::Error& error) {
        return static_cast<int>(error.code());
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_refused_restore_creates_no_database)
{
    Tree tree;
    const auto not_ours = tree.dir / "plain.tar.gz";
    make_archive(not_ours, {{"consensus/SPEC-KIT-100/a.json", "a"}}, "");
    const auto not_an_archive = tree.dir / "junk.tar.gz";
    write_file(not_an_archive, "this is not a tar.gz");
    const std::vector<Entry> entries{{"consensus/SPEC-KIT-100/a.json", "a"}};
    auto manifest = manifest_of(entries);
    manifest.replace(0, 64, std::string(64, '0'));
    const auto failing = tree.dir / "failing.tar.gz";
    make_archive(failing, entries, manifest);
    for (const auto& archive : {not_ours, not_an_archive, failing}) {
        BOOST_TEST(restore(tree, archive) == 65, archive);
        BOOST_TEST(!fs::exists(tree.db), archive);
    }
}

BOOST_AUTO_TEST_CASE(a_refused_restore_adds_no_table_to_an_application_database)
{
    Tree tree;
    make_application_database(tree.db);
    const auto before = table_count(tree.db);
    const auto not_ours = tree.dir / "plain.tar.gz";
    make_archive(not_ours, {{"consensus/SPEC-KIT-100/a.json", "a"}}, "");
    BOOST_TEST(restore(tree, not_ours) == 65);
    BOOST_TEST(table_count(tree.db) == before);
}

BOOST_AUTO_TEST_CASE(a_refused_apply_creates_no_database_and_adds_no_table)
{
    for (const auto* plan : {"not json\n", "", "{\"tool\":\"something else\"}\n"}) {
        Tree tree;
        BOOST_TEST(apply(tree, plan) != 0, plan);
        BOOST_TEST(!fs::exists(tree.db), plan);
        make_application_database(tree.db);
        const auto before = table_count(tree.db);
        BOOST_TEST(apply(tree, plan) != 0, plan);
        BOOST_TEST(table_count(tree.db) == before, plan);
    }
}

BOOST_AUTO_TEST_CASE(names_of_232_to_255_bytes_are_restored)
{
    for (const std::size_t length : {232u, 243u, 244u, 255u}) {
        Tree tree;
        const auto path = "consensus/SPEC-KIT-100/" + std::string(length, 'n');
        const std::vector<Entry> entries{{path, "long"}};
        const auto archive = tree.dir / "long.tar.gz";
        make_archive(archive, entries, manifest_of(entries));
        BOOST_TEST(restore(tree, archive) == 0, length);
        BOOST_TEST(file_bytes(tree.root / path) == "long", length);
        std::size_t others = 0;
        for (const auto& entry : fs::directory_iterator(tree.root / "consensus/SPEC-KIT-100"))
            others += entry.path().filename() != std::string(length, 'n');
        BOOST_TEST(others == 0u, length);
    }
}
