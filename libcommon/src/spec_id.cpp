#include "common/spec_id.hpp"

namespace common {
namespace {

constexpr bool is_upper(char c) noexcept
{
    return c >= 'A' && c <= 'Z';
}

constexpr bool is_upper_or_digit(char c) noexcept
{
    return is_upper(c) || (c >= '0' && c <= '9');
}

constexpr bool is_slug_char(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// "-[a-z0-9][a-z0-9-]*"
constexpr bool is_slug(std::string_view text) noexcept
{
    if (text.size() < 2 || text[0] != '-' || text[1] == '-') return false;
    for (const char c : text.substr(1))
        if (!is_slug_char(c)) return false;
    return true;
}

}  // namespace

bool is_spec_folder(std::string_view name) noexcept
{
    if (is_spec_id(name)) return true;
    for (auto dash = name.find('-'); dash != std::string_view::npos;
         dash = name.find('-', dash + 1))
        if (is_slug(name.substr(dash)) && is_spec_id(name.substr(0, dash))) return true;
    return false;
}

bool is_spec_id(std::string_view name) noexcept
{
    if (name.empty() || !is_upper(name.front())) return false;
    std::size_t i = 1;
    while (i < name.size() && is_upper_or_digit(name[i]))
        ++i;
    int groups = 0;
    while (i < name.size()) {
        if (name[i] != '-') return false;
        const auto start = ++i;
        while (i < name.size() && is_upper_or_digit(name[i]))
            ++i;
        if (i == start) return false;
        ++groups;
    }
    return groups > 0;
}

}  // namespace common
