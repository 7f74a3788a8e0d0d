// systemd/shell-style env files: `KEY=VALUE` lines, `export KEY=VALUE`, '#' comments, values
// optionally in single or double quotes. Used for --env-file and for the token file.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zdd {

struct EnvFileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// Throws EnvFileError naming the line of a malformed entry (never echoing its value, which
// may be a secret).
EnvVars parse_env_text(std::string_view text, const std::string& origin = "env file");
EnvVars read_env_file(const std::filesystem::path& path);

}  // namespace zdd
