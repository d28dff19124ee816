#include "common/files.hpp"

#include "common/error.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <string_view>
#include <sys/statvfs.h>
#include <sys/utsname.h>
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
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        if (error == ENOENT) throw Error(Exit::no_input, "{}: no such file", file.string());
        if (error == EACCES || error == EPERM)
            throw Error(Exit::no_perm, "cannot read {}: {}", file.string(), std::strerror(error));
        throw Error(Exit::io, "cannot read {}: {}", file.string(), std::strerror(error));
    }
    std::string content;
    std::array<char, 65536> buffer{};
    for (;;) {
        const ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            const int error = errno;
            ::close(fd);
            throw Error(Exit::io, "cannot read {}: {}", file.string(), std::strerror(error));
        }
        content.append(buffer.data(), static_cast<std::size_t>(got));
    }
    ::close(fd);
    return content;
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

bool little_else_to_write(std::uint64_t own_bytes)
{
    constexpr std::uint64_t slack = 64ULL << 20;
    std::string meminfo;
    try {
        meminfo = read_file("/proc/meminfo");
    } catch (const Error&) {
        return false;
    }
    // Lines such as "Dirty:            1234 kB".
    const auto kib_of = [&](std::string_view key) -> std::optional<std::uint64_t> {
        const auto at = meminfo.find(fmt::format("\n{}:", key));
        if (at == std::string::npos) return std::nullopt;
        std::uint64_t value = 0;
        const char* first = meminfo.data() + at + key.size() + 2;
        const char* last = meminfo.data() + meminfo.size();
        while (first < last && *first == ' ')
            ++first;
        if (std::from_chars(first, last, value).ec != std::errc{}) return std::nullopt;
        return value;
    };
    const auto dirty = kib_of("Dirty");
    const auto writeback = kib_of("Writeback");
    if (!dirty || !writeback) return false;
    return (*dirty + *writeback) * 1024 <= own_bytes + slack;
}

bool syncfs_reports_errors()
{
    static const bool reports = [] {
        utsname names{};
        if (::uname(&names) != 0) return false;
        // "6.1.0-28-amd64": major and minor.
        int major = 0;
        int minor = 0;
        const std::string_view release(names.release);
        const auto dot = release.find('.');
        if (dot == std::string_view::npos) return false;
        if (std::from_chars(release.data(), release.data() + dot, major).ec != std::errc{} ||
            std::from_chars(release.data() + dot + 1, release.data() + release.size(), minor).ec !=
                std::errc{})
            return false;
        return major > 5 || (major == 5 && minor >= 8);
    }();
    return reports;
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
