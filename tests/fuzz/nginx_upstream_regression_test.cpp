// Inputs the nginx_upstream fuzz target (fuzz/) found: a quoted word holding a newline ended
// up verbatim in the error message, which the contract promises as one line.
#include <catch2/catch.hpp>
#include <string>

#include "nginx/nginx_upstream.hpp"

namespace {

std::string error_of(const std::string& text) {
    try {
        zdd::parse_upstreams(text);
    } catch (const zdd::UpstreamParseError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("upstream parse errors stay one line whatever the quoted words hold") {
    // fuzz crash-874011f2: unterminated directive 'i\n'
    const std::string unterminated = " 'i\n' up";
    // fuzz crash-2dc17316: upstream NAME with a newline in NAME, no closing brace
    const std::string name = "upstream \"a\nb\" {";
    // fuzz crash-1cb5427b: unexpected '{' inside upstream NAME
    const std::string brace = "upstream \"a\nb\" { x {";
    for (const auto& text : {unterminated, name, brace}) {
        INFO(text);
        const std::string e = error_of(text);
        CHECK_FALSE(e.empty());
        CHECK(e.find('\n') == std::string::npos);
    }
}

TEST_CASE("a quoted empty directive name is refused, not dropped (the next word became the name)") {
    // fuzz crash-f72a2b10: `"" server 127.0.0.1:8080 weight=050;` was kept as the directive
    // "server 127.0.0.1:8080 weight=050", which rendered and read back as a server.
    const std::string text =
        "upstream vibe_backend {\"\"   server 127.0.0.1:8080 weight=050;\n"
        "    server 254.0.0.1:8081 weight=1;\n}\n";
    const std::string e = error_of(text);
    CHECK(e == "line 1: empty directive name");
}
