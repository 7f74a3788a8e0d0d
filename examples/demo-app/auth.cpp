#include "auth.hpp"

#include <algorithm>
#include <cctype>

namespace zdd_demo {

bool constant_time_equals(std::string_view a, std::string_view b) {
    // Walk the longer length in full and fold every difference into one accumulator; volatile
    // keeps the compiler from turning the loop into an early-exit comparison.
    const size_t n = std::max(a.size(), b.size());
    volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff = diff | static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
    constexpr std::string_view scheme = "bearer";
    auto is_space = [](char c) { return c == ' ' || c == '\t'; };
    while (!authorization.empty() && is_space(authorization.front()))
        authorization.remove_prefix(1);
    while (!authorization.empty() && is_space(authorization.back())) authorization.remove_suffix(1);
    if (authorization.size() <= scheme.size() || !is_space(authorization[scheme.size()]))
        return std::nullopt;
    for (size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i])
            return std::nullopt;
    std::string_view token = authorization.substr(scheme.size());
    while (!token.empty() && is_space(token.front())) token.remove_prefix(1);
    if (token.empty()) return std::nullopt;
    return token;
}

AuthResult check_bearer(std::string_view authorization, std::string_view expected) {
    if (expected.empty()) return AuthResult::not_configured;
    auto token = bearer_token(authorization);
    // A missing token is still compared, so a request without one costs the same time.
    const bool ok = constant_time_equals(token.value_or(std::string_view{}), expected);
    return ok && token ? AuthResult::allowed : AuthResult::unauthorized;
}

}  // namespace zdd_demo
