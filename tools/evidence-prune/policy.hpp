#pragma once
// The retention policy: which of a spec's files stay, are archived or are purged, and why.
// Pure functions over what the walk found and the time now, so that tests move the clock.

#include "common/clock.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evidence_prune {

using Days = std::chrono::duration<std::int64_t, std::ratio<86400>>;

// The numbers of the policy; every one is a flag and a configuration key.
struct Policy {
    std::chrono::seconds archive_after = Days(30);
    std::chrono::seconds purge_after = Days(90);
    // An archive is purged no sooner than this after it was made, so that any run can be undone.
    std::chrono::seconds purge_grace = Days(7);
    std::chrono::seconds active_window = Days(7);
    // A row not completed and spawned within this keeps its spec active, whoever wrote it.
    std::chrono::seconds stale_after = Days(1);
    std::uint64_t warn_bytes = 45ull << 20;
    std::uint64_t limit_bytes = 50ull << 20;
    std::uint64_t total_limit_bytes = 500ull << 20;
};

// A regular file of the tree as the walk saw it.
struct FileRecord {
    std::string path;  // relative to the root
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    std::uint32_t mode = 0600;
};

// What is known about one spec before deciding.
struct SpecState {
    std::string spec;
    std::vector<FileRecord> files;
    std::vector<FileRecord> temporaries;  // ".NAME.XXXXXX.tmp": a writer's, never evidence
    bool is_protected = false;
    bool lock_held = false;  // held, or its holder cannot be told
    bool running = false;    // the database has running agent rows for it
};

// A file that stays, and why ("newest synthesis", "future mtime").
struct Kept {
    FileRecord file;
    std::string reason;
};

// What happens to one spec.
struct SpecDecision {
    std::optional<std::string> exempt;  // why nothing of it is touched
    // age > archive_after; also past purge_after: a loose file is archived first, so that the
    // archive's purge grace lets any run be undone.
    std::vector<FileRecord> archive;
    std::vector<Kept> keep;  // kept for a reason worth saying
};

// Decides for `state` at `now`. Files with an mtime in the future are never old and do not
// make a spec active.
SpecDecision decide(const SpecState& state, const Policy& policy, common::TimePoint now);

// True when evidence last changed at `evidence_ns` is past the purge age at `now`.
bool past_purge_age(std::int64_t evidence_ns, const Policy& policy, common::TimePoint now);

// True when an archive of evidence last changed at `evidence_ns`, made at `made_ns`, may be
// purged at `now`: past the purge age and past the grace since it was made.
bool archive_due(std::int64_t evidence_ns, std::int64_t made_ns, const Policy& policy,
                 common::TimePoint now);

// The reason an archive of `files` is made: "age>30d", or "age>90d, archived first" when one
// of them is past the purge age (it is purged with its archive, after the grace).
std::string archive_reason(const std::vector<FileRecord>& files, const Policy& policy,
                           common::TimePoint now);

// "age>30d": the rule that fires for an age limit.
std::string age_rule(std::chrono::seconds limit);

// "2d", "5h", "12m", "30s": an age for people.
std::string age_text(std::chrono::seconds age);

// Parses "30d", "12h", "90m", "45s", "2w" or a plain number of days (common::parse_duration).
// Throws Error 64 naming `what`.
std::chrono::seconds parse_age(std::string_view text, std::string_view what);

// Nanoseconds since the epoch of a time point, and back.
std::int64_t to_ns(common::TimePoint time);
common::TimePoint from_ns(std::int64_t ns);

}  // namespace evidence_prune
