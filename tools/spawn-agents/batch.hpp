#pragma once
// The batch spawn-agents reads: one JSON object naming a spec, a stage and its agents.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spawn_agents {

struct AgentSpec {
    std::string name;                   // unique in the batch; part of evidence file names
    std::vector<std::string> command;   // argv, no shell; argv[0] looked up in PATH
    std::optional<std::string> prompt;  // written to stdin; none: /dev/null
    // Added to or replacing the inherited environment. Values are secrets: they appear in no
    // row, file, event or message, only their names do.
    std::map<std::string, std::string> env;
    std::optional<std::filesystem::path> cwd;
    std::optional<double> timeout_s;
};

struct Batch {
    std::string spec_id;
    std::string stage;
    std::optional<std::string> run_id;
    std::optional<std::string> branch_id;  // written where the upstream table has the column
    std::string phase_type = "regular_stage";
    std::vector<AgentSpec> agents;
};

// Checks and converts the batch document `text`; `source` names it in errors ("stdin" or the
// file). Throws Error 65 naming the JSON path (agents[2].command) for malformed JSON, a
// duplicate key, an unknown key, a wrong type, an empty agents list, a duplicate agent name, a
// missing or empty command, a bad spec_id, stage, name or phase_type.
Batch parse_batch(std::string_view text, std::string_view source);

}  // namespace spawn_agents
