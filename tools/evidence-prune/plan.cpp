#include "plan.hpp"

#include "common/error.hpp"
#include "common/spec_id.hpp"

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

template <typename T>
T field(const nlohmann::json& object, std::string_view key, std::string_view where)
{
    const auto found = object.find(key);
    if (found == object.end())
        throw Error(Exit::data, "{}: missing \"{}\"", where, key);
    try {
        return found->template get<T>();
    } catch (const nlohmann::json::exception&) {
        throw Error(Exit::data, "{}: \"{}\" has the wrong type", where, key);
    }
}

}  // namespace

std::string_view action_name(ActionKind kind)
{
    switch (kind) {
    case ActionKind::archive: return "archive";
    case ActionKind::purge:
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

std::string get_path(const nlohmann::json& object, std::string_view where)
{
    if (object.contains("path")) return field<std::string>(object, "path", where);
    const auto hex = field<std::string>(object, "path_hex", where);
    std::string bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        const int high = hex_value(hex[i]);
        const int low = hex_value(hex[i + 1]);
        if (high < 0 || low < 0) break;
        bytes.push_back(static_cast<char>(high * 16 + low));
    }
    if (bytes.size() * 2 != hex.size())
        throw Error(Exit::data, "{}: \"path_hex\" is not lowercase hex", where);
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
    if (!header.is_object() || header.value("tool", "") != "evidence-prune" ||
        header.value("kind", "") != "plan")
        throw Error(Exit::data, "{}: not a plan of evidence-prune --plan", where);
    if (field<int>(header, "schema_version", where) != plan_version)
        throw Error(Exit::data, "{}: plan version {} is not {}", where,
                    field<int>(header, "schema_version", where), plan_version);
    if (field<std::string>(header, "root", where) != root)
        throw Error(Exit::data, "{}: the plan was made for {}, not {}", where,
                    field<std::string>(header, "root", where), root);
}

PlannedAction read_plan_line(const nlohmann::json& line, std::string_view source, int number)
{
    const auto where = fmt::format("{}: line {}", source, number);
    if (!line.is_object()) throw Error(Exit::data, "{}: expected an object", where);
    PlannedAction action;
    const auto name = field<std::string>(line, "action", where);
    action.reason = field<std::string>(line, "reason", where);
    if (name == "delete-rows") {
        action.kind = ActionKind::delete_rows;
        action.cutoff_ns = field<std::int64_t>(line, "cutoff_ns", where);
        return action;
    }
    if (name == "archive")
        action.kind = ActionKind::archive;
    else if (name == "purge")
        action.kind = line.contains("archive") ? ActionKind::purge_archive : ActionKind::purge;
    else
        throw Error(Exit::data, "{}: unknown action \"{}\"", where, name);
    action.spec = field<std::string>(line, "spec", where);
    if (!common::is_spec_id(action.spec))
        throw Error(Exit::data, "{}: \"{}\" is not a SPEC-ID", where, action.spec);
    if (line.contains("archive")) action.archive = field<std::string>(line, "archive", where);
    const auto entries = field<nlohmann::json>(line, "entries", where);
    if (!entries.is_array()) throw Error(Exit::data, "{}: \"entries\" is not an array", where);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto at = fmt::format("{}: entries[{}]", where, i);
        const auto& entry = entries[i];
        if (!entry.is_object()) throw Error(Exit::data, "{}: expected an object", at);
        action.files.push_back({.path = get_path(entry, at),
                                .size = field<std::uint64_t>(entry, "size", at),
                                .mtime_ns = field<std::int64_t>(entry, "mtime_ns", at),
                                .inode = field<std::uint64_t>(entry, "inode", at),
                                .mode = 0600});
    }
    return action;
}

}  // namespace evidence_prune
