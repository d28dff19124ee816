#pragma once
// An evidence root with a database, the core run against it at a chosen time, and ways to look
// at what the run left: shared by the evidence-prune core suites.

#include "archiver.hpp"
#include "common/archive.hpp"
#include "common/sqlite.hpp"
#include "evidence_prune.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace evidence_tree {

namespace fs = std::filesystem;
using evidence_prune::Mode;
using evidence_prune::Options;
using nlohmann::json;
using test_support::file_bytes;
using test_support::TempDir;
using test_support::write_file;

constexpr std::int64_t day = 86400;
// The test's "now": 2026-06-01 00:00:00 UTC.
constexpr std::int64_t now_s = 1780272000;

inline common::TimePoint at(std::int64_t seconds)
{
    return common::TimePoint(std::chrono::seconds(seconds));
}

// Writes `content` to root/relative (with its folders), `age_days` old.
inline void put(const fs::path& root, const std::string& relative, double age_days,
                const std::string& content = {})
{
    const auto file = root / relative;
    fs::create_directories(file.parent_path());
    write_file(file, content.empty() ? "evidence of " + relative : content);
    const auto mtime = now_s - static_cast<std::int64_t>(age_days * day);
    const timespec times[2] = {{mtime, 0}, {mtime, 0}};
    BOOST_REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

struct Result {
    int code = -1;
    std::vector<json> lines;
    json summary;
    std::string err;

    // The lines of one action ("archive", "purge", ...).
    std::vector<json> of(const std::string& action) const
    {
        std::vector<json> found;
        for (const auto& line : lines)
            if (line.value("action", "") == action) found.push_back(line);
        return found;
    }
};

// An evidence root with a database, and the core run against them at a chosen time.
struct Tree {
    TempDir dir;
    fs::path root = dir / "evidence";
    fs::path db = dir / "hygiene.db";

    Tree() { fs::create_directories(root); }

    Options options(Mode mode = Mode::run) const
    {
        Options options;
        options.mode = mode;
        options.shared.evidence = root;
        options.shared.database = db;
        options.database = db;
        options.evidence_required = true;
        return options;
    }

    Result run(const Options& options, std::int64_t time = now_s) const
    {
        std::ostringstream out;
        std::ostringstream err;
        Result result;
        result.code = evidence_prune::run(
            options, [time] { return at(time); }, out, err);
        std::istringstream lines(out.str());
        for (std::string line; std::getline(lines, line);)
            result.lines.push_back(json::parse(line));
        BOOST_REQUIRE(!result.lines.empty());
        result.summary = result.lines.back();
        result.lines.pop_back();
        result.err = err.str();
        return result;
    }

    Result run(Mode mode = Mode::run, std::int64_t time = now_s) const
    {
        return run(options(mode), time);
    }

    std::int64_t query(const std::string& sql) const
    {
        return common::Database::open(db, {.mode = common::OpenMode::read_only}).query_int(sql);
    }
};

// Every file under `root`: relative path -> content, mode and mtime, to compare trees.
inline std::map<std::string, std::string> snapshot(const fs::path& root)
{
    std::map<std::string, std::string> files;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        struct stat status {};
        ::lstat(it->path().c_str(), &status);
        auto& entry = files[fs::relative(it->path(), root).string()];
        entry = fmt::format("{:o} {}.{} ", status.st_mode, status.st_mtim.tv_sec,
                            status.st_mtim.tv_nsec);
        if (S_ISREG(status.st_mode)) entry += file_bytes(it->path());
    }
    return files;
}

// path -> content of every member of a tar.gz but its checksum list.
inline std::map<std::string, std::string> archive_contents(const fs::path& archive,
                                                           bool with_checksums = false)
{
    const int fd = ::open(archive.c_str(), O_RDONLY);
    BOOST_REQUIRE(fd >= 0);
    std::map<std::string, std::string> contents;
    {
        common::ArchiveReader reader(fd, archive.string());
        common::ArchiveMember member;
        while (reader.next(member)) {
            std::string content;
            reader.read_data([&](std::string_view bytes) { content += bytes; });
            if (with_checksums || member.path != evidence_prune::manifest_name)
                contents[member.path] = content;
        }
    }
    ::close(fd);
    return contents;
}

inline std::string only_archive(const fs::path& root)
{
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(root / "archives"))
        names.push_back(entry.path().filename().string());
    BOOST_REQUIRE_EQUAL(names.size(), 1u);
    return "archives/" + names.front();
}

// The one archive of `spec` ("archives/<name>").
inline std::string archive_of(const fs::path& root, const std::string& spec)
{
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(root / "archives"))
        if (entry.path().filename().string().starts_with(spec + "-"))
            names.push_back(entry.path().filename().string());
    BOOST_REQUIRE_EQUAL(names.size(), 1u);
    return "archives/" + names.front();
}

// A spec of each kind: old enough to archive, past the purge age (archived first), and active.
inline void typical_tree(const fs::path& root)
{
    put(root, "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_gemini_1.json", 40);
    put(root, "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_claude_1.json", 45);
    put(root, "commands/SPEC-KIT-100/SPEC-KIT-100_plan_telemetry_1.json", 50);
    put(root, "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_synthesis_1.json", 60);
    put(root, "consensus/SPEC-KIT-100/SPEC-KIT-100_plan_synthesis_2.json", 40);
    put(root, "consensus/SPEC-OPS-200/SPEC-OPS-200_audit_code_1.json", 100);
    put(root, "commands/SPEC-OPS-200/SPEC-OPS-200_audit_telemetry_1.json", 120);
    put(root, "consensus/SPEC-NEW-300/SPEC-NEW-300_tasks_code_1.json", 2);
    put(root, "consensus/SPEC-NEW-300/SPEC-NEW-300_tasks_code_0.json", 50);
}

}  // namespace evidence_tree
