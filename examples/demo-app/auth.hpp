// The deployment token check: Authorization: Bearer <token>, compared in constant time.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace zdd_demo {

// Equal iff a == b; the time taken depends only on the two lengths, never on where they differ.
bool constant_time_equals(std::string_view a, std::string_view b);

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive);
// nullopt when the header is absent, uses another scheme or carries no token.
std::optional<std::string_view> bearer_token(std::string_view authorization);

enum class AuthResult {
    allowed,
    unauthorized,    // 401: wrong or missing token
    not_configured,  // 503: the app has no token, so nobody may read the report
};

// `expected` empty means no token is configured.
AuthResult check_bearer(std::string_view authorization, std::string_view expected);

}  // namespace zdd_demo
