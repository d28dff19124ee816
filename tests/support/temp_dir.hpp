#pragma once
// A fresh folder per test, removed with everything in it when the test ends.

#include <filesystem>
#include <map>
#include <string>

namespace test_support {

class TempDir {
public:
    TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();

    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

private:
    std::filesystem::path m_path;
};

// The bytes of `file`, for byte-for-byte comparisons.
std::string file_bytes(const std::filesystem::path& file);

// Writes `content` to `file`, replacing it.
void write_file(const std::filesystem::path& file, const std::string& content);

// The environment of a tool run that keeps a developer's configuration and state out of it:
// XDG_CONFIG_HOME is `dir`/config, XDG_STATE_HOME `dir`/state, and SPEC_HYGIENE_DB and
// SPEC_HYGIENE_EVIDENCE are `db` and `evidence` (empty: as if unset).
std::map<std::string, std::string> isolated_environment(const TempDir& dir,
                                                        const std::string& db = {},
                                                        const std::string& evidence = {});

}  // namespace test_support
