// nginx's config lexer (nginx/nginx_lexer.hpp), shared by the `nginx -T` scanner, the upstream
// file parser and the pid lookup: nginx's own rules for quotes, escapes, comments, braces, ';'.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "nginx/nginx_lexer.hpp"

using zdd::NginxLexer;
using zdd::NginxLexError;
using zdd::NginxToken;
using Kind = NginxToken::Kind;

namespace {

std::vector<NginxToken> lex(std::string_view text) {
    std::vector<NginxToken> out;
    NginxLexer l(text);
    while (auto t = l.next()) out.push_back(std::move(*t));
    return out;
}

std::vector<std::string> texts(std::string_view text) {
    std::vector<std::string> out;
    for (const auto& t : lex(text)) out.push_back(t.text);
    return out;
}

// The error's line and message, or {0, ""} when the text lexes.
std::pair<std::size_t, std::string> error_of(std::string_view text) {
    try {
        lex(text);
    } catch (const NginxLexError& e) {
        return {e.line, e.what()};
    }
    return {0, ""};
}

}  // namespace

TEST_CASE("words, ';', braces and their lines") {
    const auto t = lex("upstream b {\n  server 127.0.0.1:8080 weight=1;\n}\n");
    REQUIRE(t.size() == 8);
    CHECK(t[0].kind == Kind::word);
    CHECK(t[0].text == "upstream");
    CHECK(t[2].kind == Kind::open);
    CHECK(t[3].text == "server");
    CHECK(t[3].line == 2);
    CHECK(t[5].text == "weight=1");
    CHECK(t[6].kind == Kind::semicolon);
    CHECK(t[7].kind == Kind::close);
    CHECK(t[7].line == 3);
}

TEST_CASE("comments run to the end of the line; '#' and '}' inside a word are the word's") {
    CHECK(texts("# all comment\nlisten 80; # trailing\n") ==
          std::vector<std::string>{"listen", "80", ";"});
    CHECK(texts("a#b c}d;") == std::vector<std::string>{"a#b", "c}d", ";"});
    CHECK(texts("x \"# not a comment\";") == std::vector<std::string>{"x", "# not a comment", ";"});
}

TEST_CASE("quotes and escapes as nginx reads them") {
    CHECK(texts(R"(a "b c" 'd;e' "q\"q" 'x\'y' "t\tn\n\\" "\z";)") ==
          std::vector<std::string>{"a", "b c", "d;e", "q\"q", "x'y", "t\tn\n\\", "\\z", ";"});
    // Escapes apply in bare words too; a quoted word may span lines (the count follows).
    const auto t = lex("a\\\"b \"multi\nline\" next;");
    CHECK(t[0].text == "a\"b");
    CHECK(t[1].text == "multi\nline");
    CHECK(t[2].line == 2);
    // `if ($x) {`: a ')' may follow a closing quote.
    CHECK(texts("if ($h = \"v\") {") == std::vector<std::string>{"if", "($h", "=", "v", ")", "{"});
}

TEST_CASE("${var} stays one word; a bare '{' ends it") {
    CHECK(texts("return 200 ${a}b{") == std::vector<std::string>{"return", "200", "${a}b", "{"});
}

TEST_CASE("malformed text: one message and its line") {
    CHECK(error_of("a \"open\n\nend") ==
          std::pair<std::size_t, std::string>{1, "unterminated quoted string"});
    CHECK(error_of("x\n\"a\"b;") ==
          std::pair<std::size_t, std::string>{2, "unexpected \"b\" after a quoted string"});
    CHECK(error_of(std::string("a\nb\0c;", 6)) ==
          std::pair<std::size_t, std::string>{2, "NUL byte in config"});
    CHECK(error_of("").second.empty());
    CHECK(error_of("trailing\\").second.empty());  // a lone backslash at the end is a word
}

TEST_CASE("line() is where the lexer stands, for \"unexpected end of file\"") {
    NginxLexer l("a;\n\n# end\n");
    while (l.next()) {
    }
    CHECK(l.line() == 4);
}
