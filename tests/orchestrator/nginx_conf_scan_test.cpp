// The nginx -T reader: nginx's lexer rules, dump splitting, include expansion, time syntax.
// Pure text in, tree out; doctor_test runs it on real `nginx -T` output.
#include "nginx/nginx_conf_scan.hpp"

#include <catch2/catch.hpp>

using namespace zdd;

namespace {

const ConfDirective& only(const std::vector<ConfDirective>& v, const std::string& name) {
    const ConfDirective* found = nullptr;
    for (const auto& d : v)
        if (d.name == name) {
            REQUIRE(found == nullptr);
            found = &d;
        }
    REQUIRE(found != nullptr);
    return *found;
}

}  // namespace

TEST_CASE("tokenizer follows nginx's rules for quotes, escapes, comments and variables") {
    auto t = parse_nginx_conf(
        "# comment with ; and { braces }\n"
        "http {\n"
        "  add_header X-A \"a;b {c} # not a comment\";\n"
        "  add_header X-B 'single \\' quote';\n"
        "  proxy_set_header X \"\\\"q\\\" ${host}x\";\n"
        "  return 200 ${scheme}://$host#frag;  # trailing comment\n"
        "  map $http_upgrade $connection_upgrade { default upgrade; '' \"\"; }\n"
        "}\n",
        "/etc/nginx/nginx.conf");
    REQUIRE(t.size() == 1);
    const auto& http = t[0];
    CHECK(http.name == "http");
    CHECK(http.block);
    CHECK(http.line == 2);
    REQUIRE(http.children.size() == 5);
    CHECK(http.children[0].args == std::vector<std::string>{"X-A", "a;b {c} # not a comment"});
    CHECK(http.children[0].line == 3);
    CHECK(http.children[1].args == std::vector<std::string>{"X-B", "single ' quote"});
    CHECK(http.children[2].args == std::vector<std::string>{"X", "\"q\" ${host}x"});
    CHECK(http.children[3].args == std::vector<std::string>{"200", "${scheme}://$host#frag"});
    const auto& map = http.children[4];
    CHECK(map.args == std::vector<std::string>{"$http_upgrade", "$connection_upgrade"});
    REQUIRE(map.children.size() == 2);
    CHECK(map.children[1].name.empty());  // the '' key
    CHECK(map.children[1].args == std::vector<std::string>{""});
    CHECK(map.children[1].where() == "/etc/nginx/nginx.conf:7");
}

TEST_CASE("malformed config text is one error line naming file and line") {
    auto err = [](const std::string& text) {
        try {
            parse_nginx_conf(text, "/x.conf");
        } catch (const NginxConfError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(err("http {\n  a b;\n") == "/x.conf:3: unexpected end of file, expecting \"}\"");
    CHECK(err("a b") == "/x.conf:1: unexpected end of file, expecting \";\" or \"}\"");
    CHECK(err("}\n") == "/x.conf:1: unexpected \"}\"");
    CHECK(err("\n;") == "/x.conf:2: unexpected \";\"");
    CHECK(err("a \"b\nc;") == "/x.conf:1: unterminated quoted string");
    CHECK(err("a \"b\"c;") == "/x.conf:1: unexpected \"c\" after a quoted string");
    CHECK(err([] {
              std::string s;
              for (int i = 0; i < 100; ++i) s += "a{";
              return s;
          }())
              .find("nested deeper than 64") != std::string::npos);
}

TEST_CASE("an nginx -T dump splits into files and includes expand in place") {
    const std::string dump =
        "# configuration file /etc/nginx/nginx.conf:\n"
        "http {\n"
        "  include conf.d/*.conf;\n"
        "  server { location / { include /etc/nginx/snippets/s.conf; } }\n"
        "}\n"
        "\n"
        "# configuration file /etc/nginx/conf.d/b.conf:\n"
        "gzip on;\n"
        "\n"
        "# configuration file /etc/nginx/conf.d/a.conf:\n"
        "upstream u { server 127.0.0.1:1; }\n"
        "\n"
        "# configuration file /etc/nginx/snippets/s.conf:\n"
        "proxy_buffering off;"  // no trailing newline in the file
        "\n";
    auto files = split_nginx_dump(dump);
    REQUIRE(files.size() == 4);
    CHECK(files[0].path == "/etc/nginx/nginx.conf");
    CHECK(files[1].text == "gzip on;\n");
    CHECK(files[3].text == "proxy_buffering off;");

    auto conf = parse_nginx_dump(dump);
    CHECK(conf.files.size() == 4);
    CHECK(conf.unresolved_includes.empty());
    const auto& http = only(conf.root, "http");
    // glob matches come sorted (as glob(3) gives them to nginx): a.conf before b.conf
    REQUIRE(http.children.size() == 3);
    CHECK(http.children[0].name == "upstream");
    CHECK(http.children[0].file == "/etc/nginx/conf.d/a.conf");
    CHECK(http.children[1].name == "gzip");
    const auto& loc = only(only(http.children, "server").children, "location");
    REQUIRE(loc.children.size() == 1);
    CHECK(loc.children[0].name == "proxy_buffering");
    CHECK(loc.children[0].where() == "/etc/nginx/snippets/s.conf:1");
}

TEST_CASE("include loops and blow-ups are bounded, not followed forever") {
    const std::string loop =
        "# configuration file /a.conf:\n"
        "include /b.conf;\n"
        "# configuration file /b.conf:\n"
        "include /a.conf;\n";
    CHECK_THROWS_WITH(parse_nginx_dump(loop), Catch::Contains("includes nested deeper"));

    // Each level includes the next twice: 2^30 directives if expanded blindly.
    std::string bomb;
    for (int i = 0; i < 30; ++i)
        bomb += "# configuration file /f" + std::to_string(i) + ".conf:\ninclude /f" +
                std::to_string(i + 1) + ".conf;\ninclude /f" + std::to_string(i + 1) + ".conf;\n";
    bomb += "# configuration file /f30.conf:\na b;\n";
    CHECK_THROWS_WITH(parse_nginx_dump(bomb), Catch::Contains("directives after expanding"));

    CHECK_THROWS_AS(split_nginx_dump("worker_processes 1;\n"), NginxConfError);
    CHECK_THROWS_AS(split_nginx_dump(""), NginxConfError);
}

TEST_CASE("nginx time syntax") {
    CHECK(parse_nginx_time_ms("60") == 60000);
    CHECK(parse_nginx_time_ms("90s") == 90000);
    CHECK(parse_nginx_time_ms("1m 30s") == 90000);
    CHECK(parse_nginx_time_ms("1h30m") == 5400000);
    CHECK(parse_nginx_time_ms("500ms") == 500);
    CHECK(parse_nginx_time_ms("1d") == 86400000);
    CHECK(parse_nginx_time_ms("") == -1);
    CHECK(parse_nginx_time_ms("s") == -1);
    CHECK(parse_nginx_time_ms("30s 1m") == -1);  // units must decrease
    CHECK(parse_nginx_time_ms("10x") == -1);
    CHECK(parse_nginx_time_ms("99999999999999999999y") == -1);
}
