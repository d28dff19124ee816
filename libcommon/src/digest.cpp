#include "common/digest.hpp"

#include "common/error.hpp"

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace common {

struct Sha256::Context {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(context); }
};

Sha256::Sha256() : m_context(std::make_unique<Context>())
{
    if (m_context->context == nullptr ||
        EVP_DigestInit_ex(m_context->context, EVP_sha256(), nullptr) != 1)
        throw Error(Exit::software, "cannot start SHA-256 (libcrypto)");
}

Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes)
{
    if (EVP_DigestUpdate(m_context->context, bytes.data(), bytes.size()) != 1)
        throw Error(Exit::software, "SHA-256 update failed (libcrypto)");
}

std::string Sha256::hex_digest()
{
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(m_context->context, digest.data(), &length) != 1 ||
        EVP_DigestInit_ex(m_context->context, EVP_sha256(), nullptr) != 1)
        throw Error(Exit::software, "SHA-256 final failed (libcrypto)");
    static constexpr char hex[] = "0123456789abcdef";
    std::string text;
    text.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        text.push_back(hex[digest[i] >> 4]);
        text.push_back(hex[digest[i] & 0xf]);
    }
    return text;
}

std::string sha256_hex(std::string_view bytes)
{
    Sha256 digest;
    digest.update(bytes);
    return digest.hex_digest();
}

std::string sha256_fd(int fd)
{
    Sha256 digest;
    std::array<char, 1 << 16> buffer{};
    for (;;) {
        const auto got = ::read(fd, buffer.data(), buffer.size());
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(Exit::io, "read failed: {}", std::strerror(errno));
        }
        digest.update({buffer.data(), static_cast<std::size_t>(got)});
    }
    return digest.hex_digest();
}

std::string sha256_file(const std::filesystem::path& file)
{
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        throw Error(errno == ENOENT ? Exit::no_input : Exit::io, "cannot open {}: {}",
                    file.string(), std::strerror(errno));
    try {
        auto hex = sha256_fd(fd);
        ::close(fd);
        return hex;
    } catch (const Error& error) {
        ::close(fd);
        throw Error(error.code(), "{}: {}", file.string(), error.what());
    }
}

}  // namespace common
