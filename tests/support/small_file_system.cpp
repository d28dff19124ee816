#include "support/small_file_system.hpp"

#include "support/temp_dir.hpp"

#include <string>
#include <sys/mount.h>

namespace test_support {

SmallFileSystem::SmallFileSystem(const std::filesystem::path& where, int mebibytes, bool read_only)
    : m_where(where)
{
    std::filesystem::create_directories(where);
    const auto options = "size=" + std::to_string(mebibytes) + "m";
    m_mounted =
        ::mount("tmpfs", where.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, options.c_str()) == 0;
}

SmallFileSystem::~SmallFileSystem()
{
    if (m_mounted) ::umount2(m_where.c_str(), MNT_DETACH);
}

boost::test_tools::assertion_result can_mount(boost::unit_test::test_unit_id)
{
    TempDir probe;
    SmallFileSystem small(probe / "probe", 1);
    boost::test_tools::assertion_result result(small.mounted());
    result.message() << "cannot mount a tmpfs here";
    return result;
}

}  // namespace test_support
