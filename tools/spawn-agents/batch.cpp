#include "batch.hpp"

#include "common/error.hpp"
#include "common/input.hpp"

#include <regex>
#include <set>

namespace spawn_agents {
namespace {

using common::Error;
using common::Exit;

// A SPEC-ID as the evidence tree names its folders.
const std::regex spec_id_pattern("[A-Z][A-Z0-9]*(-[A-Z0-9]+)+");
// Stages and agent names become parts of file names: no separators, no dots at the start.
const std::regex name_pattern("[A-Za-z0-9][A-Za-z0-9._-]*");
// Environment variable names as a shell accepts them.
const std::regex env_name_pattern("[A-Za-z_][A-Za-z0-9_]*");

void check_pattern(const std::string& value, const std::regex& pattern, std::string_view source,
                   const std::string& path, std::string_view expected)
{
    if (!std::regex_match(value, pattern))
        throw Error(Exit::data, "{}: {}: expected {}", source, path, expected);
}

std::map<std::string, std::string> read_env(const nlohmann::json* value, std::string_view source,
                                            const std::string& path)
{
    std::map<std::string, std::string> env;
    if (value == nullptr) return env;
    if (!value->is_object())
        throw Error(Exit::data, "{}: {}: expected an object of strings", source, path);
    for (const auto& [name, entry] : value->items()) {
        // Names are not secret; values are, and are never quoted back.
        if (!std::regex_match(name, env_name_pattern))
            throw Error(Exit::data, "{}: {}: '{}' is not a variable name", source, path, name);
        if (!entry.is_string())
            throw Error(Exit::data, "{}: {}.{}: expected a string", source, path, name);
        env.emplace(name, entry.get<std::string>());
    }
    return env;
}

AgentSpec read_agent(const nlohmann::json& object, std::size_t index, std::string_view source)
{
    common::FieldReader fields(object, common::element_path("agents", index), std::string(source));
    AgentSpec agent;
    agent.name = fields.required<std::string>("name");
    check_pattern(agent.name, name_pattern, source, fields.path_of("name"),
                  "letters, digits, '.', '_' or '-'");
    agent.command = fields.required<std::vector<std::string>>("command");
    if (agent.command.empty() || agent.command.front().empty())
        throw Error(Exit::data, "{}: {}: expected a program and its arguments", source,
                    fields.path_of("command"));
    agent.prompt = fields.optional<std::string>("prompt");
    agent.env = read_env(fields.value("env"), source, fields.path_of("env"));
    if (auto cwd = fields.optional<std::string>("cwd")) {
        if (cwd->empty())
            throw Error(Exit::data, "{}: {}: expected a folder", source, fields.path_of("cwd"));
        agent.cwd = *cwd;
    }
    agent.timeout_s = fields.optional<double>("timeout_s");
    if (agent.timeout_s && !(*agent.timeout_s > 0 && *agent.timeout_s <= 7 * 24 * 3600))
        throw Error(Exit::data, "{}: {}: expected seconds above 0, at most a week", source,
                    fields.path_of("timeout_s"));
    fields.reject_unknown();
    return agent;
}

}  // namespace

Batch parse_batch(std::string_view text, std::string_view source)
{
    const auto document = common::parse_json(text, source);
    common::FieldReader fields(document, "", std::string(source));
    Batch batch;
    batch.spec_id = fields.required<std::string>("spec_id");
    check_pattern(batch.spec_id, spec_id_pattern, source, fields.path_of("spec_id"),
                  "a SPEC-ID such as SPEC-KIT-933");
    batch.stage = fields.required<std::string>("stage");
    check_pattern(batch.stage, name_pattern, source, fields.path_of("stage"),
                  "letters, digits, '.', '_' or '-'");
    batch.run_id = fields.optional<std::string>("run_id");
    if (auto phase = fields.optional<std::string>("phase_type")) {
        if (*phase != "regular_stage" && *phase != "quality_gate")
            throw Error(Exit::data, "{}: {}: expected 'regular_stage' or 'quality_gate'", source,
                        fields.path_of("phase_type"));
        batch.phase_type = *phase;
    }
    const auto* agents = fields.value("agents");
    if (agents == nullptr)
        throw Error(Exit::data, "{}: {}: missing", source, fields.path_of("agents"));
    if (!agents->is_array())
        throw Error(Exit::data, "{}: {}: expected an array of objects", source,
                    fields.path_of("agents"));
    if (agents->empty())
        throw Error(Exit::data, "{}: {}: expected at least one agent", source,
                    fields.path_of("agents"));
    fields.reject_unknown();

    std::set<std::string> names;
    for (std::size_t i = 0; i < agents->size(); ++i) {
        auto agent = read_agent((*agents)[i], i, source);
        if (!names.insert(agent.name).second)
            throw Error(Exit::data, "{}: agents[{}].name: '{}' is already the name of an agent",
                        source, i, agent.name);
        batch.agents.push_back(std::move(agent));
    }
    return batch;
}

}  // namespace spawn_agents
