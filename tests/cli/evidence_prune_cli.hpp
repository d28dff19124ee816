#pragma once
// What the evidence-prune CLI suites share: a sandbox per test with an evidence tree from the
// shared fixture, the real binary run with an environment of its own, and helpers that read
// the output, the files and the archives back.

#include "common/archive.hpp"
#include "common/digest.hpp"
#include "common/sqlite.hpp"
#include "fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace evidence_prune_cli {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::file_bytes;
using test_support::ProcessResult;
using test_support::write_file;

// A temporary folder with an evidence tree from the shared fixture, and evidence-prune run
// with an environment of its own (no configuration or database of the developer's).
struct Sandbox {
    test_support::TempDir dir;
    fs::path root = dir / "evidence";
    fs::path db = dir / "hygiene.db";

    explicit Sandbox(fixture::EvidenceShape shape = {})
    {
        fs::create_directory(dir / "config");
        fixture::make_evidence_tree(root, shape);
    }

    ProcessResult prune(std::vector<std::string> args,
                        const std::map<std::string, std::string>& extra = {}) const
    {
        // The crash hook is compiled only into the test build of the tool.
        const bool hook = extra.count("SPEC_HYGIENE_TEST_CRASH_AT") > 0;
        std::vector<std::string> argv{hook ? EVIDENCE_PRUNE_TEST_BIN : EVIDENCE_PRUNE_BIN,
                                      "--evidence", root.string(), "--db", db.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto env = test_support::isolated_environment(dir);
        for (const auto& [name, value] : extra)
            env[name] = value;
        return test_support::run_process(argv, {}, env);
    }
};

inline std::vector<json> lines_of(const ProcessResult& result)
{
    std::vector<json> lines;
    std::istringstream out(result.out);
    for (std::string line; std::getline(out, line);) {
        BOOST_TEST_REQUIRE(json::accept(line), line);
        lines.push_back(json::parse(line));
    }
    return lines;
}

// Every regular file under commands/ and consensus/: path -> content.
inline std::map<std::string, std::string> evidence_files(const fs::path& root)
{
    std::map<std::string, std::string> files;
    for (const auto* top : {"commands", "consensus"}) {
        if (!fs::exists(root / top)) continue;
        for (const auto& entry : fs::recursive_directory_iterator(root / top))
            if (entry.is_regular_file() && !entry.is_symlink())
                files[fs::relative(entry.path(), root).string()] = file_bytes(entry.path());
    }
    return files;
}

// Every file with mode, mtime and content, to show that nothing changed.
inline std::map<std::string, std::string> snapshot(const fs::path& root)
{
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        struct stat status {};
        ::lstat(entry.path().c_str(), &status);
        auto& state = files[fs::relative(entry.path(), root).string()];
        state = fmt::format("{:o} {} {}", status.st_mode, status.st_mtim.tv_sec,
                            status.st_mtim.tv_nsec);
        if (S_ISREG(status.st_mode)) state += file_bytes(entry.path());
    }
    return files;
}

// Members of every archive that has a database record matching its SHA-256.
inline std::map<std::string, std::string> recorded_archive_members(const fs::path& root,
                                                                   const fs::path& db_path)
{
    std::map<std::string, std::string> members;
    if (!fs::exists(root / "archives")) return members;
    const auto db = common::Database::open(db_path, {.mode = common::OpenMode::read_only});
    for (const auto& entry : fs::directory_iterator(root / "archives")) {
        const auto relative = "archives/" + entry.path().filename().string();
        auto query = db.prepare("SELECT sha256 FROM evidence_archives WHERE action = 'archive' "
                                "AND archive_path = ?");
        query.bind(1, relative);
        if (!query.step() || query.column_text(0) != common::sha256_file(entry.path())) continue;
        const int fd = ::open(entry.path().c_str(), O_RDONLY);
        common::ArchiveReader reader(fd, relative);
        common::ArchiveMember member;
        while (reader.next(member)) {
            std::string content;
            reader.read_data([&](std::string_view bytes) { content += bytes; });
            members[member.path] = content;
        }
        ::close(fd);
    }
    return members;
}

// Specs 45 and 75 days old only: everything old is archived, nothing purged.
inline fixture::EvidenceShape archivable()
{
    fixture::EvidenceShape shape;
    shape.specs = 4;
    shape.files_per_spec = 30;
    shape.ages_days = {45, 75};
    return shape;
}

// Whether a test can run the tool as a user without privileges: it is one, or (as root) it
// can become one with setpriv.
inline boost::test_tools::assertion_result can_run_unprivileged(boost::unit_test::test_unit_id)
{
    boost::test_tools::assertion_result result(::geteuid() != 0 ||
                                               ::access("/usr/bin/setpriv", X_OK) == 0);
    result.message() << "running as root without /usr/bin/setpriv";
    return result;
}

// argv run as nobody (as root) or as is, for tests where permissions must bite.
inline std::vector<std::string> unprivileged(std::vector<std::string> argv)
{
    if (::geteuid() != 0) return argv;
    argv.insert(argv.begin(),
                {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    return argv;
}

}  // namespace evidence_prune_cli
