#include "policy.hpp"

#include "common/duration.hpp"
#include "common/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace evidence_prune {
namespace {

// "*_synthesis.json", and the upstream "SPEC-KIT-933_validate_synthesis_20251114_101500.json".
bool is_synthesis(const std::string& path)
{
    const auto slash = path.rfind('/');
    const std::string_view name = slash == std::string::npos
                                      ? std::string_view(path)
                                      : std::string_view(path).substr(slash + 1);
    constexpr std::string_view extension = ".json";
    if (name.size() < extension.size() || !name.ends_with(extension)) return false;
    const auto at = name.rfind("_synthesis");
    if (at == std::string_view::npos) return false;
    const auto rest = name.substr(at + 10);
    return rest == extension || rest.starts_with("_");
}

// The stage a synthesis belongs to: the first '_'-separated word of its name after the
// spec's own prefix ("plan" of "plan_20251114_synthesis.json" and of
// "SPEC-KIT-933_plan_synthesis_1.json").
std::string synthesis_stage(const std::string& spec, const std::string& path)
{
    const auto slash = path.rfind('/');
    std::string_view name = slash == std::string::npos ? std::string_view(path)
                                                       : std::string_view(path).substr(slash + 1);
    if (name.starts_with(spec) && name.substr(spec.size()).starts_with("_"))
        name.remove_prefix(spec.size() + 1);
    return std::string(name.substr(0, name.find('_')));
}

}  // namespace

std::int64_t to_ns(common::TimePoint time)
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

common::TimePoint from_ns(std::int64_t ns)
{
    return common::TimePoint(
        std::chrono::duration_cast<common::TimePoint::duration>(std::chrono::nanoseconds(ns)));
}

std::string age_text(std::chrono::seconds age)
{
    const auto seconds = age.count();
    if (seconds >= 86400) return fmt::format("{}d", seconds / 86400);
    if (seconds >= 3600) return fmt::format("{}h", seconds / 3600);
    if (seconds >= 60) return fmt::format("{}m", seconds / 60);
    return fmt::format("{}s", std::max<std::int64_t>(seconds, 0));
}

std::string age_rule(std::chrono::seconds limit)
{
    return "age>" + age_text(limit);
}

std::chrono::seconds parse_age(std::string_view text, std::string_view what)
{
    // A plain number is days, as the configuration file counts them.
    const bool plain = !text.empty() && std::all_of(text.begin(), text.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
    constexpr auto most = std::chrono::seconds(std::int64_t{100} * 365 * 86400);
    try {
        const auto age =
            common::parse_duration(plain ? std::string(text) + "d" : std::string(text));
        if (age <= most) return age;
    } catch (const common::Error&) {
    }
    throw common::Error(common::Exit::usage,
                        "{}: expected an age such as 30d, 12h or 90m (at most 100 years), "
                        "not '{}'",
                        what, text);
}

bool past_purge_age(std::int64_t evidence_ns, const Policy& policy, common::TimePoint now)
{
    return to_ns(now) - evidence_ns >
           std::chrono::duration_cast<std::chrono::nanoseconds>(policy.purge_after).count();
}

bool archive_due(std::int64_t evidence_ns, std::int64_t made_ns, const Policy& policy,
                 common::TimePoint now)
{
    return past_purge_age(evidence_ns, policy, now) &&
           to_ns(now) - made_ns >
               std::chrono::duration_cast<std::chrono::nanoseconds>(policy.purge_grace).count();
}

std::string archive_reason(const std::vector<FileRecord>& files, const Policy& policy,
                           common::TimePoint now)
{
    const bool past = std::any_of(files.begin(), files.end(), [&](const FileRecord& file) {
        return past_purge_age(file.mtime_ns, policy, now);
    });
    return past ? age_rule(policy.purge_after) + ", archived first"
                : age_rule(policy.archive_after);
}

SpecDecision decide(const SpecState& state, const Policy& policy, common::TimePoint now)
{
    SpecDecision decision;
    const auto now_ns = to_ns(now);
    const auto ns = [](std::chrono::seconds limit) {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(limit).count();
    };

    // The newest modification that is not in the future says whether the spec is active.
    std::optional<std::int64_t> newest;
    for (const auto& file : state.files)
        if (file.mtime_ns <= now_ns)
            newest = std::max(newest.value_or(file.mtime_ns), file.mtime_ns);
    if (state.is_protected)
        decision.exempt = "protected";
    else if (state.lock_held)
        decision.exempt = "locked";
    else if (state.running)
        decision.exempt = "active: agent run in progress";
    else if (newest && now_ns - *newest <= ns(policy.active_window))
        decision.exempt = fmt::format("active: modified {} ago",
                                      age_text(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::nanoseconds(now_ns - *newest))));
    if (decision.exempt) return decision;

    // The newest synthesis of each stage stays uncompressed, whatever its age: the workflow
    // reads it.
    std::map<std::string, const FileRecord*> newest_of_stage;
    for (const auto& file : state.files) {
        if (!is_synthesis(file.path)) continue;
        auto& synthesis = newest_of_stage[synthesis_stage(state.spec, file.path)];
        if (synthesis == nullptr || file.mtime_ns > synthesis->mtime_ns ||
            (file.mtime_ns == synthesis->mtime_ns && file.path > synthesis->path))
            synthesis = &file;
    }
    const auto kept_synthesis = [&](const FileRecord& file) {
        return std::any_of(newest_of_stage.begin(), newest_of_stage.end(),
                           [&](const auto& entry) { return entry.second == &file; });
    };
    for (const auto& file : state.files) {
        if (kept_synthesis(file)) {
            decision.keep.push_back({file, "newest synthesis"});
            continue;
        }
        const auto age = now_ns - file.mtime_ns;
        if (age < 0)
            decision.keep.push_back({file, "future mtime"});
        else if (age > ns(policy.archive_after))
            decision.archive.push_back(file);
    }
    return decision;
}

}  // namespace evidence_prune
