#pragma once
// A small tmpfs mounted for one test (root with CAP_SYS_ADMIN only), unmounted with everything
// in it after; tests that need one take `can_mount` as their precondition and the label
// "needs_mount" (ctest runs them apart and reports them as skipped where mounting is refused).

#include <boost/test/unit_test.hpp>

#include <filesystem>

namespace test_support {

class SmallFileSystem {
public:
    // Mounts `mebibytes` MiB at `where` (created when missing), read-only when asked.
    SmallFileSystem(const std::filesystem::path& where, int mebibytes, bool read_only = false);
    SmallFileSystem(const SmallFileSystem&) = delete;
    SmallFileSystem& operator=(const SmallFileSystem&) = delete;
    ~SmallFileSystem();
    bool mounted() const { return m_mounted; }

private:
    std::filesystem::path m_where;
    bool m_mounted = false;
};

// A Boost.Test precondition: true when a tmpfs can be mounted here.
boost::test_tools::assertion_result can_mount(boost::unit_test::test_unit_id);

}  // namespace test_support
