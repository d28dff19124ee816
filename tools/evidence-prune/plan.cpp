#include "plan.hpp"

#include "common/error.hpp"
#include "common/input.hpp"
#include "common/spec_id.hpp"
#include "common/tree.hpp"

#include <fmt/format.h>

namespace evidence_prune {
namespace {

using common::Error;
using common::Exit;

constexpr int plan_version = 1;

std::string to_hex(std::string_view bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (const char byte : bytes) {
        const auto c = static_cast<unsigned char>(byte);
        hex.push_back(digits[c >> 4]);
        hex.push_back(digits[c & 0xf]);
    }
    return hex;
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

std::string_view action_name(ActionKind kind)
{
    switch (kind) {
    case ActionKind::archive: return "archive";
    case ActionKind::purge_archive: return "purge";
    case ActionKind::delete_rows: return "delete-rows";
    }
    return "?";
}

void put_path(common::Json& object, const std::string& path)
{
    if (common::sanitize_utf8(path) == path)
        object["path"] = path;
    else
        object["path_hex"] = to_hex(path);
}

std::string get_path(common::FieldReader& fields)
{
    if (auto path = fields.optional<std::string>("path")) return *path;
    const auto hex = fields.required<std::string>("path_hex");
    std::string bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        const int high = hex_value(hex[i]);
        const int low = hex_value(hex[i + 1]);
        if (high < 0 || low < 0) break;
        bytes.push_back(static_cast<char>(high * 16 + low));
    }
    if (bytes.size() * 2 != hex.size()) fields.fail("path_hex", "expected lowercase hex digits");
    return bytes;
}

common::Json plan_header(const std::string& root, common::TimePoint created, const Policy& policy)
{
    return common::Json{{"tool", "evidence-prune"},
                        {"kind", "plan"},
                        {"schema_version", plan_version},
                        {"root", root},
                        {"created_at", common::iso8601(created)},
                        {"policy",
                         {{"archive_after_s", policy.archive_after.count()},
                          {"purge_after_s", policy.purge_after.count()},
                          {"active_window_s", policy.active_window.count()}}}};
}

common::Json plan_line(const PlannedAction& action)
{
    common::Json line{{"action", action_name(action.kind)}};
    if (!action.spec.empty()) line["spec"] = action.spec;
    if (!action.archive.empty()) line["archive"] = action.archive;
    line["reason"] = action.reason;
    if (action.kind == ActionKind::delete_rows) {
        line["cutoff_ns"] = action.cutoff_ns;
        return line;
    }
    auto files = common::Json::array();
    for (const auto& file : action.files) {
        common::Json entry;
        put_path(entry, file.path);
        entry["size"] = file.size;
        entry["mtime_ns"] = file.mtime_ns;
        entry["inode"] = file.inode;
        files.push_back(std::move(entry));
    }
    line["entries"] = std::move(files);
    return line;
}

void check_plan_header(const nlohmann::json& header, const std::string& root,
                       std::string_view source)
{
    const auto where = fmt::format("{}: line 1", source);
    common::FieldReader fields(header, "", where);
    if (fields.optional<std::string>("tool") != "evidence-prune" ||
        fields.optional<std::string>("kind") != "plan")
        throw Error(Exit::data, "{}: not a plan of evidence-prune --plan", where);
    if (const auto version = fields.required<int>("schema_version"); version != plan_version)
        fields.fail("schema_version",
                    fmt::format("plan version {} is not {}", version, plan_version));
    if (const auto made_for = fields.required<std::string>("root"); made_for != root)
        fields.fail("root", fmt::format("the plan was made for {}, not {}", made_for, root));
}

PlannedAction read_plan_line(const nlohmann::json& line, std::string_view source, int number)
{
    common::FieldReader fields(line, "", fmt::format("{}: line {}", source, number));
    PlannedAction action;
    const auto name = fields.required<std::string>("action");
    action.reason = fields.required<std::string>("reason");
    if (name == "delete-rows") {
        action.kind = ActionKind::delete_rows;
        action.cutoff_ns = fields.required<std::int64_t>("cutoff_ns");
        fields.reject_unknown();
        return action;
    }
    const auto archive = fields.optional<std::string>("archive");
    if (name == "archive")
        action.kind = ActionKind::archive;
    else if (name == "purge" && archive)
        action.kind = ActionKind::purge_archive;
    else if (name == "purge")
        fields.fail("archive", "a purge removes an archive; loose files are archived first");
    else
        fields.fail("action", "expected archive, purge or delete-rows");
    action.archive = archive.value_or("");
    if (archive && !common::is_safe_relative(*archive))
        fields.fail("archive", "expected a path below the root");
    action.spec = fields.required<std::string>("spec");
    if (!common::is_spec_folder(action.spec)) fields.fail("spec", "expected a spec folder name");
    const auto* entries = fields.value("entries");
    if (entries == nullptr || !entries->is_array())
        fields.fail("entries", "expected an array of objects");
    if (action.kind == ActionKind::purge_archive &&
        (!action.archive.starts_with("archives/") || entries->size() != 1))
        fields.fail("archive", "expected one archive under archives/");
    // A plan only ever touches its spec's own files: an edited plan cannot reach further.
    const auto belongs = [&](const std::string& path) {
        if (!common::is_safe_relative(path)) return false;
        if (action.kind == ActionKind::purge_archive) return path == action.archive;
        return path.starts_with("commands/" + action.spec + "/") ||
               path.starts_with("consensus/" + action.spec + "/");
    };
    for (std::size_t i = 0; i < entries->size(); ++i) {
        common::FieldReader entry((*entries)[i], common::element_path("entries", i),
                                  fields.source());
        auto path = get_path(entry);
        if (!belongs(path))
            entry.fail(entry.value("path") ? "path" : "path_hex",
                       "not a file of this action's spec");
        action.files.push_back({.path = std::move(path),
                                .size = entry.required<std::uint64_t>("size"),
                                .mtime_ns = entry.required<std::int64_t>("mtime_ns"),
                                .inode = entry.required<std::uint64_t>("inode"),
                                .mode = 0600});
        entry.reject_unknown();
    }
    fields.reject_unknown();
    return action;
}

}  // namespace evidence_prune
