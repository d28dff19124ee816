#include "common/files.hpp"

#include "common/error.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/statvfs.h>
#include <system_error>
#include <unistd.h>

namespace common {

std::uint64_t size_or_zero(const std::filesystem::path& file)
{
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    return ec ? 0 : size;
}

std::uint64_t available_space(const std::filesystem::path& path)
{
    std::error_code ec;
    auto probe = std::filesystem::absolute(path, ec);
    while (!probe.empty() && !std::filesystem::exists(probe, ec) && probe != probe.parent_path())
        probe = probe.parent_path();
    struct statvfs info {};
    if (::statvfs(probe.c_str(), &info) != 0)
        throw Error(Exit::io, "cannot read free space of {}: {}", probe.string(),
                    std::strerror(errno));
    return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

std::string read_file(const std::filesystem::path& file)
{
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
        throw Error(Exit::no_input, "{}: no such file", file.string());
    std::ifstream in(file, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in && !in.eof()) throw Error(Exit::io, "cannot read {}", file.string());
    return content.str();
}

void sync_path(const std::filesystem::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        const int error = errno;
        if (fd >= 0) ::close(fd);
        throw Error(Exit::io, "cannot flush {} to disk: {}", path.string(), std::strerror(error));
    }
    ::close(fd);
}

std::string human_bytes(std::uint64_t bytes)
{
    static constexpr std::array units{"B", "KiB", "MiB", "GiB", "TiB"};
    auto value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < units.size()) {
        value /= 1024.0;
        ++unit;
    }
    return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace common
