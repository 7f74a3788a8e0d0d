// nginx's config lexer, the one every zdd reader of nginx config uses (the `nginx -T` scanner,
// the upstream file parser, the pid directive lookup): a port of ngx_conf_read_token's rules.
// Words are bare or quoted ("..." or '...'); \" \' \\ \t \r \n are unescaped in every word,
// other backslashes stay; a bare word ends at whitespace, ';' or '{' (so `${var}` stays one
// word, and '}' or '#' inside a word are part of it); '#' at a token's start comments to the
// end of the line; a closing quote must be followed by whitespace, ';', '{' or ')'.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace zdd {

struct NginxToken {
    enum class Kind { word, semicolon, open, close };
    Kind kind = Kind::word;
    std::string text;  // the word, unescaped; ";", "{" or "}" otherwise
    std::size_t line = 1;
};

// Malformed text: `what` and the line it is on (callers add the file name).
struct NginxLexError : std::runtime_error {
    NginxLexError(std::size_t line, const std::string& what)
        : std::runtime_error(what), line(line) {}
    std::size_t line;
};

class NginxLexer {
  public:
    explicit NginxLexer(std::string_view text) : s_(text) {}

    // The next token, or nullopt at the end of the text. Throws NginxLexError (a NUL byte, an
    // unterminated quoted string, text glued to a closing quote).
    std::optional<NginxToken> next();

    // The line the lexer is on (at the end: the last line), for "unexpected end of file".
    std::size_t line() const { return line_; }

  private:
    void skip_space_and_comments();
    std::string read_word();

    std::string_view s_;
    std::size_t i_ = 0;
    std::size_t line_ = 1;
};

}  // namespace zdd
