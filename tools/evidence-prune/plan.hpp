#pragma once
// The actions of a run as --plan writes them and --apply reads them: JSON Lines, a header
// line then one action per line, each with the size, mtime and inode of every file it touches.

#include "common/json.hpp"
#include "policy.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace evidence_prune {

// Loose files are only ever archived; a purge removes an archive.
enum class ActionKind { archive, purge_archive, delete_rows };

// One action that changes something.
struct PlannedAction {
    ActionKind kind = ActionKind::archive;
    std::string spec;
    std::string reason;
    std::string archive;            // archive: the name to write; purge_archive: the one to remove
    std::vector<FileRecord> files;  // archive: the files; purge_archive: the archive
    std::int64_t cutoff_ns = 0;     // delete_rows: rows older than this go
};

// "archive", "purge", "delete-rows" (an archive's purge is a "purge" with an "archive").
std::string_view action_name(ActionKind kind);

// The first line of a plan.
common::Json plan_header(const std::string& root, common::TimePoint created, const Policy& policy);

// One action as a plan line.
common::Json plan_line(const PlannedAction& action);

// Checks a plan's first line: a plan of this tool and version, made for `root`.
// Throws Error 65 naming `source`.
void check_plan_header(const nlohmann::json& header, const std::string& root,
                       std::string_view source);

// Reads one plan line. Throws Error 65 "SOURCE: line N: ..." when a field is missing or wrong.
PlannedAction read_plan_line(const nlohmann::json& line, std::string_view source, int number);

// A path as JSON carries it: {"path": text} when it is UTF-8, else {"path_hex": bytes in hex},
// so that no name is changed on its way through a plan.
void put_path(common::Json& object, const std::string& path);

}  // namespace evidence_prune
