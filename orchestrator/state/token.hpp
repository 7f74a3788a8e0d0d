// The deployment token (VIBE_DEPLOYMENT_TOKEN): loaded from the environment or the token file,
// held in a Secret that has no printing operator so it cannot slip into logs, argv or state.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace zdd {

struct TokenError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A string that is only readable on purpose (reveal()); no operator<<, no implicit conversion.
class Secret {
  public:
    Secret() = default;
    explicit Secret(std::string v) : v_(std::move(v)) {}
    const std::string& reveal() const { return v_; }
    bool empty() const { return v_.empty(); }
    bool operator==(const Secret&) const = default;

  private:
    std::string v_;
};

struct LoadedToken {
    Secret token;
    std::string source;  // "environment VIBE_DEPLOYMENT_TOKEN" or the token file's path
};

inline constexpr const char* kTokenEnv = "VIBE_DEPLOYMENT_TOKEN";

// env_value: VIBE_DEPLOYMENT_TOKEN's value (nullopt/empty = unset); it wins over the file.
// The file is either an env file with a `VIBE_DEPLOYMENT_TOKEN=...` line (as the original
// script's deployment.env) or a file holding only the token; it is parsed by
// drainmon::read_token_file (gate/app_report.hpp), shared with drain-inspector. A file
// not owned by root (or the user running zdd) or accessible by group or others is refused; a token
// with spaces or control characters too (it goes into an HTTP header). Throws TokenError; messages
// never contain the token.
LoadedToken load_token(const std::filesystem::path& token_file,
                       const std::optional<std::string>& env_value);
// Same, reading VIBE_DEPLOYMENT_TOKEN from the process environment.
LoadedToken load_token(const std::filesystem::path& token_file);

}  // namespace zdd
