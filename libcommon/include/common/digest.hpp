#pragma once
// SHA-256 through OpenSSL's libcrypto, over bytes, a stream or a file.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace common {

// An incremental SHA-256. Throws Error 70 when libcrypto fails.
class Sha256 {
public:
    Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    ~Sha256();

    void update(std::string_view bytes);
    // The digest of everything given so far, as 64 lowercase hex digits; starts over afterwards.
    std::string hex_digest();

private:
    struct Context;
    std::unique_ptr<Context> m_context;
};

// The SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

// The SHA-256 of what is left to read from `fd`. Throws Error 74 when a read fails.
std::string sha256_fd(int fd);

// The SHA-256 of `file`, opened without following a symlink. Throws Error 66 when it is
// missing, 74 when it cannot be read.
std::string sha256_file(const std::filesystem::path& file);

}  // namespace common
