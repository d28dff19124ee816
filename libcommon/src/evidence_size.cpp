#include "common/evidence_size.hpp"

#include "common/atomic_file.hpp"
#include "common/spec_id.hpp"

#include <algorithm>
#include <vector>

namespace common {
namespace {

bool all_digits(std::string_view text)
{
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The bytes of the regular files below `relative`, temporaries left out. walk() stops at
// the first folder it cannot read, so the tree is walked one folder at a time: a folder that
// cannot be read is left out with what it holds, and nothing else.
std::uint64_t folder_bytes(const TreeRoot& root, const std::string& relative)
{
    std::uint64_t bytes = 0;
    std::vector<std::string> folders{relative};
    while (!folders.empty()) {
        const auto folder = std::move(folders.back());
        folders.pop_back();
        try {
            root.walk(folder, [&](const TreeEntry& entry) {
                if (entry.info.type == EntryType::file &&
                    !is_temporary_name(split_parent(entry.path).second))
                    bytes += entry.info.size;
                if (entry.info.type == EntryType::directory) folders.push_back(entry.path);
                return false;
            });
        } catch (const Error&) {
        }
    }
    return bytes;
}

// Calls `visit` with each entry directly in `folder`; nothing when it cannot be read.
void list(const TreeRoot& root, std::string_view folder,
          const std::function<void(const TreeEntry&)>& visit)
{
    const auto info = root.stat(folder);
    if (!info || info->type != EntryType::directory) return;
    try {
        root.walk(folder, [&](const TreeEntry& entry) {
            visit(entry);
            return false;
        });
    } catch (const Error&) {
    }
}

}  // namespace

std::optional<std::string> spec_of_archive_name(std::string_view name)
{
    constexpr std::string_view suffix = ".tar.gz";
    if (!name.ends_with(suffix)) return std::nullopt;
    auto stem = name.substr(0, name.size() - suffix.size());
    auto last = stem.rfind('-');
    if (last == std::string_view::npos || !all_digits(stem.substr(last + 1))) return std::nullopt;
    if (stem.size() - last - 1 != 8) {
        stem = stem.substr(0, last);
        last = stem.rfind('-');
        if (last == std::string_view::npos || stem.size() - last - 1 != 8 ||
            !all_digits(stem.substr(last + 1)))
            return std::nullopt;
    }
    const std::string spec(stem.substr(0, last));
    if (!is_spec_folder(spec)) return std::nullopt;
    return spec;
}

std::map<std::string, std::uint64_t> measure_evidence(const TreeRoot& root)
{
    std::map<std::string, std::uint64_t> bytes;
    for (const auto* kind : {"commands", "consensus"})
        list(root, kind, [&](const TreeEntry& entry) {
            const auto spec = std::string(split_parent(entry.path).second);
            if (entry.info.type == EntryType::directory && is_spec_folder(spec))
                bytes[spec] += folder_bytes(root, entry.path);
        });
    list(root, "archives", [&](const TreeEntry& entry) {
        if (entry.info.type != EntryType::file) return;
        if (const auto spec = spec_of_archive_name(split_parent(entry.path).second))
            bytes[*spec] += entry.info.size;
    });
    return bytes;
}

}  // namespace common
