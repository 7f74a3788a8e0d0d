// Reads nginx's effective configuration as `nginx -T` prints it: the dump is split into its
// files, each file is tokenized the way nginx's own lexer does (blocks, quotes, escapes,
// comments, `${var}`), and `include` directives are expanded from the dumped files, so callers
// walk one tree with every directive's file and line. Any input is accepted or rejected with
// one line; limits bound the work (size, nesting, include depth, expanded directives).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zdd {

// Malformed config text or a dump beyond the limits: "FILE:LINE: what".
struct NginxConfError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ConfDirective {
    std::string name;               // first token, unescaped ("" for a quoted empty map key)
    std::vector<std::string> args;  // remaining tokens, quotes removed, escapes resolved
    std::string file;
    std::size_t line = 0;
    bool block = false;                   // ended by `{ ... }` rather than `;`
    std::vector<ConfDirective> children;  // the block's directives (includes expanded)

    std::string where() const { return file + ":" + std::to_string(line); }
};

struct DumpedFile {
    std::string path;  // as nginx names it in "# configuration file PATH:"
    std::string text;
};

// Splits `nginx -T` stdout into its files, in dump order (the main config first).
// Throws NginxConfError when the text does not start with a dump header.
std::vector<DumpedFile> split_nginx_dump(std::string_view dump);

// Tokenizes one file's text; `include` directives are left as they are.
std::vector<ConfDirective> parse_nginx_conf(std::string_view text, const std::string& file);

struct NginxConf {
    std::vector<std::string> files;   // every dumped file, in dump order
    std::vector<ConfDirective> root;  // the main file's directives, includes expanded
    // `include` patterns that matched no dumped file (nginx -T succeeded, so normally none).
    std::vector<std::string> unresolved_includes;
};

// The whole effective config from `nginx -T` output. Relative includes resolve against the
// main file's directory (nginx's conf prefix); globs match the dumped names in sorted order.
NginxConf parse_nginx_dump(std::string_view dump);

// nginx time syntax ("90", "90s", "1m 30s", "500ms", "2h", "1d") in milliseconds;
// -1 when it is not a valid time.
long long parse_nginx_time_ms(std::string_view s);

}  // namespace zdd
