#include "support/temp_dir.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace test_support {

TempDir::TempDir()
{
    // World-readable, so that a test may run a binary as an unprivileged user in it.
    std::string pattern =
        (std::filesystem::temp_directory_path() / "spec-hygiene-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    m_path = pattern;
    std::filesystem::permissions(m_path, std::filesystem::perms::all);
}

TempDir::~TempDir()
{
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

std::string file_bytes(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

void write_file(const std::filesystem::path& file, const std::string& content)
{
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
}

std::map<std::string, std::string> isolated_environment(const TempDir& dir, const std::string& db,
                                                        const std::string& evidence)
{
    return {{"XDG_CONFIG_HOME", (dir / "config").string()},
            {"XDG_STATE_HOME", (dir / "state").string()},
            {"SPEC_HYGIENE_DB", db},
            {"SPEC_HYGIENE_EVIDENCE", evidence}};
}

}  // namespace test_support
