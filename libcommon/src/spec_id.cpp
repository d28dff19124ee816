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

}  // namespace

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
