#pragma once
// Writing a file so that readers see either the old content or the new, never a part.

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace common {

// A temporary file beside `target`, renamed over it by commit(); removed unless committed.
// Throws Error 73 when the temporary cannot be created, 74 when writing or syncing fails.
class AtomicFile {
public:
    explicit AtomicFile(std::filesystem::path target, mode_t mode = 0600);
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    ~AtomicFile();

    int fd() const { return m_fd; }
    void write(std::string_view data);
    // fsyncs the file, renames it into place and fsyncs the folder.
    void commit();

private:
    std::filesystem::path m_target;
    std::filesystem::path m_temporary;
    int m_fd = -1;
    bool m_committed = false;
};

// Writes `content` to `target` through an AtomicFile.
void write_file_atomically(const std::filesystem::path& target, std::string_view content,
                           mode_t mode = 0600);

}  // namespace common
