#pragma once
// A fresh folder per test, removed with everything in it when the test ends.

#include <filesystem>
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

}  // namespace test_support
