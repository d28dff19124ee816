#define BOOST_TEST_MODULE common_archive
#include <boost/test/unit_test.hpp>

#include "common/archive.hpp"
#include "common/digest.hpp"
#include "common/error.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <cstdint>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <sstream>
#include <unistd.h>
#include <vector>
#include <zlib.h>

using test_support::TempDir;

namespace {

std::vector<common::ArchiveMember> write_and_read(const std::filesystem::path& file,
                                                  const std::vector<std::string>& contents,
                                                  std::vector<std::string>& read_back)
{
    {
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        common::ArchiveWriter writer(fd, file.string());
        for (std::size_t i = 0; i < contents.size(); ++i) {
            writer.begin({.path = "d/f" + std::to_string(i),
                          .size = contents[i].size(),
                          .mtime_ns = 1'700'000'000'123'456'789,
                          .mode = 0640,
                          .sha256 = common::sha256_hex(contents[i])});
            writer.write(contents[i]);
        }
        writer.finish();
        ::close(fd);
    }
    std::vector<common::ArchiveMember> members;
    const int fd = ::open(file.c_str(), O_RDONLY);
    common::ArchiveReader reader(fd, file.string());
    common::ArchiveMember member;
    while (reader.next(member)) {
        std::string content;
        reader.read_data([&](std::string_view bytes) { content += bytes; });
        members.push_back(member);
        read_back.push_back(content);
    }
    BOOST_TEST(reader.file_sha256() == common::sha256_file(file));
    ::close(fd);
    return members;
}

// How many bytes of `file` follow its first gzip member, as zlib decodes it; nullopt when that
// member is damaged.
std::optional<std::size_t> bytes_after_first_member(const std::filesystem::path& file)
{
    auto bytes = test_support::file_bytes(file);
    z_stream stream{};
    if (inflateInit2(&stream, 15 + 16) != Z_OK) return std::nullopt;
    std::string out(1u << 16, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(bytes.data());
    stream.avail_in = static_cast<uInt>(bytes.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
        stream.next_out = reinterpret_cast<Bytef*>(out.data());
        stream.avail_out = static_cast<uInt>(out.size());
        rc = inflate(&stream, Z_NO_FLUSH);
    }
    const auto left = stream.avail_in;
    inflateEnd(&stream);
    if (rc != Z_STREAM_END) return std::nullopt;
    return left;
}

}  // namespace

BOOST_AUTO_TEST_CASE(sha256_of_known_input)
{
    BOOST_TEST(common::sha256_hex("abc") ==
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    BOOST_TEST(common::sha256_hex("") ==
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

BOOST_AUTO_TEST_CASE(incremental_digest_equals_one_shot)
{
    common::Sha256 digest;
    digest.update("a");
    digest.update("bc");
    BOOST_TEST(digest.hex_digest() == common::sha256_hex("abc"));
}

BOOST_AUTO_TEST_CASE(members_round_trip_with_size_mode_mtime_and_checksum)
{
    TempDir dir;
    std::vector<std::string> read_back;
    const std::vector<std::string> contents{"first", std::string(300000, 'z'), ""};
    const auto members = write_and_read(dir / "a.tar.gz", contents, read_back);
    BOOST_REQUIRE_EQUAL(members.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        BOOST_TEST(members[i].path == "d/f" + std::to_string(i));
        BOOST_TEST(members[i].size == contents[i].size());
        BOOST_TEST(members[i].mode == 0640u);
        BOOST_TEST(members[i].mtime_ns == 1'700'000'000'123'456'789);
        BOOST_TEST(members[i].sha256 == common::sha256_hex(contents[i]));
        BOOST_TEST(read_back[i] == contents[i]);
    }
}

BOOST_AUTO_TEST_CASE(gnu_tar_lists_the_archive_without_complaint)
{
    TempDir dir;
    std::vector<std::string> read_back;
    write_and_read(dir / "a.tar.gz", {"x"}, read_back);
    const auto result = test_support::run_process({"tar", "tzf", (dir / "a.tar.gz").string()});
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(result.out == "d/f0\n");
    BOOST_TEST(result.err.empty(), result.err);
}

BOOST_AUTO_TEST_CASE(an_archive_compressed_in_several_pieces_reads_back_here_and_with_gnu_tools)
{
    // Over 5 MiB of tar: many pieces compressed side by side into one gzip member.
    TempDir dir;
    std::string text;
    for (int line = 0; text.size() < (2u << 20); ++line)
        text += "{\"line\": " + std::to_string(line * 7919 % 100003) + ", \"agent\": \"claude\"}\n";
    std::string noise(1u << 20, '\0');
    std::uint32_t state = 12345;
    for (auto& c : noise) {
        state = state * 1103515245u + 12345u;
        c = static_cast<char>(state >> 24);
    }
    const std::vector<std::string> contents{text, noise, "small", text + noise};
    std::vector<std::string> read_back;
    const auto members = write_and_read(dir / "big.tar.gz", contents, read_back);
    BOOST_REQUIRE_EQUAL(members.size(), contents.size());
    for (std::size_t i = 0; i < contents.size(); ++i)
        BOOST_TEST((read_back[i] == contents[i]), "member " << i);
    // gzip and GNU tar read the members as one stream.
    const auto tested = test_support::run_process({"gzip", "-t", (dir / "big.tar.gz").string()});
    BOOST_TEST(tested.exit_code == 0, tested.err);
    const auto extracted = test_support::run_process(
        {"tar", "xzf", (dir / "big.tar.gz").string(), "-C", dir.path().string()});
    BOOST_TEST(extracted.exit_code == 0, extracted.err);
    BOOST_TEST((test_support::file_bytes(dir / "d/f3") == contents[3]));
    // One member, about the size gzip makes of the same tar.
    const auto after_first = bytes_after_first_member(dir / "big.tar.gz");
    BOOST_REQUIRE(after_first.has_value());
    BOOST_TEST(*after_first == 0u);
    const auto listed = test_support::run_process({"gzip", "-lq", (dir / "big.tar.gz").string()});
    BOOST_TEST(listed.exit_code == 0, listed.err);
    std::istringstream columns(listed.out);
    std::uint64_t compressed = 0;
    std::uint64_t uncompressed = 0;
    columns >> compressed >> uncompressed;
    BOOST_TEST(compressed == std::filesystem::file_size(dir / "big.tar.gz"));
    BOOST_TEST(uncompressed > (5u << 20));
    const auto regzipped = test_support::run_process(
        {"sh", "-c", "gzip -dc \"$1\" | gzip -6 -n | wc -c", "sh", (dir / "big.tar.gz").string()});
    BOOST_TEST(compressed * 1000 <= std::stoull(regzipped.out) * 1003,
               compressed << " bytes against gzip's " << regzipped.out);
}

BOOST_AUTO_TEST_CASE(a_tar_stream_ending_on_or_near_a_piece_boundary_reads_back)
{
    // Sizes stepping by the tar block across the 256 KiB pieces' boundary: one of them ends
    // the stream exactly there, leaving an empty last piece.
    TempDir dir;
    for (std::size_t size = (256u << 10) - 4096; size <= (256u << 10) + 1024; size += 512) {
        const auto file = dir / ("a" + std::to_string(size) + ".tar.gz");
        std::vector<std::string> read_back;
        const std::vector<std::string> contents{std::string(size, 'q')};
        write_and_read(file, contents, read_back);
        BOOST_REQUIRE_EQUAL(read_back.size(), 1u);
        BOOST_TEST((read_back[0] == contents[0]), size);
        const auto tested = test_support::run_process({"gzip", "-t", file.string()});
        BOOST_TEST(tested.exit_code == 0, size << ": " << tested.err);
    }
}

BOOST_AUTO_TEST_CASE(damaged_archive_is_65)
{
    TempDir dir;
    test_support::write_file(dir / "bad.tar.gz", "\x1f\x8b not really gzip");
    const int fd = ::open((dir / "bad.tar.gz").c_str(), O_RDONLY);
    try {
        common::ArchiveReader reader(fd, "bad.tar.gz");
        common::ArchiveMember member;
        while (reader.next(member)) {
        }
        BOOST_FAIL("a damaged archive must be refused");
    } catch (const common::Error& error) {
        BOOST_TEST(static_cast<int>(error.code()) == 65);
    }
    ::close(fd);
}
