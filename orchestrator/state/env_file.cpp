#include "state/env_file.hpp"

#include "state/atomic_file.hpp"

namespace zdd {

static bool valid_key(std::string_view k) {
    if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
    for (char c : k)
        if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9')))
            return false;
    return true;
}

static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

EnvVars parse_env_text(std::string_view text, const std::string& origin) {
    EnvVars out;
    std::size_t lineno = 0, pos = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = trim(text.substr(pos, nl - pos));
        pos = nl + 1;
        ++lineno;
        if (line.empty() || line[0] == '#') continue;
        if (line.substr(0, 7) == "export ") line = trim(line.substr(7));
        auto eq = line.find('=');
        const std::string where = origin + " line " + std::to_string(lineno);
        if (eq == std::string_view::npos) throw EnvFileError(where + ": expected KEY=VALUE");
        std::string_view key = trim(line.substr(0, eq));
        if (!valid_key(key)) throw EnvFileError(where + ": invalid variable name");
        std::string_view v = trim(line.substr(eq + 1));
        std::string value;
        if (!v.empty() && (v[0] == '"' || v[0] == '\'')) {
            char q = v[0];
            if (v.size() < 2 || v.back() != q) throw EnvFileError(where + ": unterminated quote");
            v = v.substr(1, v.size() - 2);
            for (std::size_t i = 0; i < v.size(); ++i) {
                // Double quotes allow \" and \\ escapes as in shells and systemd.
                if (q == '"' && v[i] == '\\' && i + 1 < v.size()) ++i;
                value += v[i];
            }
        } else {
            value = std::string(v);
        }
        out.emplace_back(std::string(key), std::move(value));
    }
    return out;
}

EnvVars read_env_file(const std::filesystem::path& path) {
    std::optional<std::string> text;
    try {
        text = read_file_if_exists(path, 1u << 20);
    } catch (const FileError& e) {
        throw EnvFileError(e.what());
    }
    if (!text) throw EnvFileError("env file " + path.string() + " does not exist");
    return parse_env_text(*text, path.string());
}

}  // namespace zdd
