#include "batch.hpp"

#include "common/error.hpp"
#include "common/input.hpp"
#include "common/spec_id.hpp"

#include <set>
#include <string_view>

namespace spawn_agents {
namespace {

using common::Error;
using common::Exit;

constexpr bool is_ascii_letter(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

constexpr bool is_ascii_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

// Stages and agent names become parts of file names: letters, digits, '.', '_' and '-', no
// separators, and no dot (nor '_' or '-') at the start.
constexpr bool is_name(std::string_view text) noexcept
{
    if (text.empty() || !(is_ascii_letter(text[0]) || is_ascii_digit(text[0]))) return false;
    for (const char c : text)
        if (!(is_ascii_letter(c) || is_ascii_digit(c) || c == '.' || c == '_' || c == '-'))
            return false;
    return true;
}

// Environment variable names as a shell accepts them.
constexpr bool is_env_name(std::string_view text) noexcept
{
    if (text.empty() || is_ascii_digit(text[0])) return false;
    for (const char c : text)
        if (!(is_ascii_letter(c) || is_ascii_digit(c) || c == '_')) return false;
    return true;
}

void check_name(const std::string& value, std::string_view source, const std::string& path)
{
    if (!is_name(value))
        throw Error(Exit::data, "{}: {}: expected letters, digits, '.', '_' or '-'", source, path);
}

// The longest file name most file systems take.
constexpr std::size_t max_file_name = 255;
// What an evidence file name adds to the spec, stage and agent: three '_', the batch's
// _YYYYMMDD_HHMMSS, a _100 for a name taken, _stderr.txt, and the temporary's
// .NAME.XXXXXX.tmp around it.
constexpr std::size_t file_name_overhead = 3 + 16 + 4 + 11 + 12;

// A command, folder or variable would be cut at a NUL by the system call that takes it, and
// the agent would run something else than asked.
void refuse_nul(std::string_view value, std::string_view source, const std::string& path)
{
    if (value.find('\0') != std::string_view::npos)
        throw Error(Exit::data, "{}: {}: contains a NUL byte", source, path);
}

void refuse_long_names(const Batch& batch, std::string_view source)
{
    const auto too_long = [&](std::size_t agent_length) {
        return batch.spec_id.size() + batch.stage.size() + agent_length + file_name_overhead >
               max_file_name;
    };
    const auto fail = [&](const std::string& path) {
        throw Error(Exit::data, "{}: {}: too long: evidence file names would pass {} bytes", source,
                    path, max_file_name);
    };
    if (batch.spec_id.size() + file_name_overhead > max_file_name) fail("spec_id");
    if (too_long(1)) fail("stage");
    for (std::size_t i = 0; i < batch.agents.size(); ++i)
        if (too_long(batch.agents[i].name.size()))
            fail(common::member_path(common::element_path("agents", i), "name"));
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
        if (!is_env_name(name))
            throw Error(Exit::data, "{}: {}: '{}' is not a variable name", source, path, name);
        if (!entry.is_string())
            throw Error(Exit::data, "{}: {}.{}: expected a string", source, path, name);
        refuse_nul(entry.get_ref<const std::string&>(), source, common::member_path(path, name));
        env.emplace(name, entry.get<std::string>());
    }
    return env;
}

AgentSpec read_agent(const nlohmann::json& object, std::size_t index, std::string_view source)
{
    common::FieldReader fields(object, common::element_path("agents", index), std::string(source));
    AgentSpec agent;
    agent.name = fields.required<std::string>("name");
    check_name(agent.name, source, fields.path_of("name"));
    agent.command = fields.required<std::vector<std::string>>("command");
    if (agent.command.empty() || agent.command.front().empty())
        throw Error(Exit::data, "{}: {}: expected a program and its arguments", source,
                    fields.path_of("command"));
    for (std::size_t i = 0; i < agent.command.size(); ++i)
        refuse_nul(agent.command[i], source, common::element_path(fields.path_of("command"), i));
    agent.prompt = fields.optional<std::string>("prompt");
    agent.env = read_env(fields.value("env"), source, fields.path_of("env"));
    if (auto cwd = fields.optional<std::string>("cwd")) {
        if (cwd->empty())
            throw Error(Exit::data, "{}: {}: expected a folder", source, fields.path_of("cwd"));
        refuse_nul(*cwd, source, fields.path_of("cwd"));
        agent.cwd = *cwd;
    }
    agent.timeout_s = fields.optional<double>("timeout_s");
    // Timeouts are kept in whole milliseconds: less than one would be none at all.
    if (agent.timeout_s && !(*agent.timeout_s >= 0.001 && *agent.timeout_s <= 7 * 24 * 3600))
        throw Error(Exit::data, "{}: {}: expected seconds from 0.001 to a week", source,
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
    if (!common::is_spec_id(batch.spec_id))
        throw Error(Exit::data, "{}: {}: expected a SPEC-ID such as SPEC-KIT-933", source,
                    fields.path_of("spec_id"));
    batch.stage = fields.required<std::string>("stage");
    check_name(batch.stage, source, fields.path_of("stage"));
    batch.run_id = fields.optional<std::string>("run_id");
    batch.branch_id = fields.optional<std::string>("branch_id");
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
    refuse_long_names(batch, source);
    return batch;
}

}  // namespace spawn_agents
