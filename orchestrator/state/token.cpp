#include "state/token.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "gate/app_report.hpp"

namespace zdd {

namespace {

// The token goes into an HTTP header: printable ASCII without spaces only.
void check_token(const std::string& t, const std::string& origin) {
    if (t.empty()) throw TokenError("deployment token from " + origin + " is empty");
    if (t.size() > 4096) throw TokenError("deployment token from " + origin + " is too long");
    for (unsigned char c : t)
        if (c <= 0x20 || c >= 0x7f)
            throw TokenError("deployment token from " + origin +
                             " holds spaces or control characters");
}

}  // namespace

LoadedToken load_token(const std::filesystem::path& token_file,
                       const std::optional<std::string>& env_value) {
    if (env_value && !env_value->empty()) {
        std::string origin = std::string("environment ") + kTokenEnv;
        check_token(*env_value, origin);
        return {Secret(*env_value), origin};
    }
    struct stat st {};
    if (::stat(token_file.c_str(), &st) != 0) {
        if (errno == ENOENT)
            throw TokenError(std::string("no deployment token: set ") + kTokenEnv + " or create " +
                             token_file.string() + " (mode 0600)");
        throw TokenError("cannot read token file " + token_file.string() + ": " +
                         std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        throw TokenError("token file " + token_file.string() + " is not a regular file");
    // One parser for token files, shared with drain-inspector (userspace/app_report).
    std::string token;
    try {
        token = drainmon::read_token_file(token_file.string());
    } catch (const drainmon::TokenFileError& e) {
        throw TokenError(e.what());
    }
    check_token(token, token_file.string());
    return {Secret(token), token_file.string()};
}

LoadedToken load_token(const std::filesystem::path& token_file) {
    const char* v = std::getenv(kTokenEnv);
    return load_token(token_file, v ? std::optional<std::string>(v) : std::nullopt);
}

}  // namespace zdd
