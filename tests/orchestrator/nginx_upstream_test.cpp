#include <catch2/catch.hpp>
#include <random>

#include "state/atomic_file.hpp"
#include "nginx/nginx_upstream.hpp"
#include "temp_dir.hpp"

using namespace zdd;

TEST_CASE("render then parse gives the same upstream") {
    Upstream u{"vibe_backend",
               {{"127.0.0.1", 8081, 100, {}},
                {"127.0.0.1", 8080, 1, {"max_fails=0"}},
                {"::1", 9000, 5, {}}},
               16,
               {"zone vibe 64k"}};
    std::string text = render_upstream(u);
    CHECK_THAT(text, Catch::Contains("server 127.0.0.1:8081 weight=100;"));
    CHECK_THAT(text, Catch::Contains("server [::1]:9000 weight=5;"));
    CHECK_THAT(text, Catch::Contains("keepalive 16;"));
    Upstream p = parse_upstream(text, "vibe_backend");
    REQUIRE(p.servers.size() == 3);
    CHECK(p.servers[0].port == 8081);
    CHECK(p.servers[0].weight == 100);
    CHECK(p.servers[1].params == std::vector<std::string>{"max_fails=0"});
    CHECK(p.servers[2].host == "::1");
    CHECK(p.keepalive == 16);
    CHECK(p.directives == std::vector<std::string>{"zone vibe 64k"});
    CHECK(render_upstream(p) == text);
}

TEST_CASE("parses a hand-written file like the original script's") {
    const char* seed = R"(# managed by vibe-zero-downtime
upstream vibe_backend {
    server 127.0.0.1:8080 weight=100;  # blue
    server 127.0.0.1:8081 weight=1;
    keepalive 32;
}
upstream "other" { server localhost:9999; }
)";
    auto all = parse_upstreams(seed);
    REQUIRE(all.size() == 2);
    CHECK(all[0].servers.size() == 2);
    CHECK(all[0].servers[1].weight == 1);
    CHECK(all[1].name == "other");
    CHECK(all[1].servers[0].weight == 1);  // nginx's default
    CHECK_THROWS_WITH(parse_upstream(seed, "missing"), Catch::Contains("no 'upstream missing"));
    // an upstream nested in http {} is found too
    CHECK(parse_upstreams("http { upstream a { server 1.2.3.4:80; } }").size() == 1);
}

TEST_CASE("hostile input gives a clear one-line error") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"upstream a { server 127.0.0.1:8080 weight=1;", "missing closing"},
        {"upstream a { server 127.0.0.1:99999; }", "port is not 1-65535"},
        {"upstream a { server 127.0.0.1; }", "expected HOST:PORT"},
        {"upstream a { server :80; }", "empty host"},
        {"upstream a { server unix:/tmp/x.sock; }", "not supported"},
        {"upstream a { server 1.2.3.4:80 weight=0; }", "bad weight=0"},
        {"upstream a { server 1.2.3.4:80 weight=x; }", "bad weight=x"},
        {"upstream a { keepalive; }", "keepalive"},
        {"upstream a { server 1.2.3.4:80 }", "missing ';'"},
        {"upstream a { upstream b { } }", "unexpected '{'"},
        {"}", "unbalanced"},
        {"upstream a { server \"1.2.3.4:80; }", "unterminated quoted"},
        {"upstream a b { }", "expected 'upstream NAME {'"},
        {"upstream a;", "without a block"},
        {"upstream a { ; }", "empty directive"},
        // A fuzz find: "" vanished in the join and `server` became the directive's name.
        {"upstream a { \"\" server 1.2.3.4:80 weight=050; }", "empty directive name"},
        {"upstream a { server [::1:80; }", "[IPv6]:PORT"},
        {std::string("upstream a { server 1.2.3.4:80\0; }", 34), "NUL"},
        {std::string(2000, '{'), "nested too deep"},
        {std::string(2u << 20, ' '), "larger than"},
        {"upstream a {\n\n server x:y;\n}", "line 3"},
    };
    for (const auto& [text, want] : cases) {
        INFO(text.substr(0, 60));
        try {
            parse_upstreams(text);
            FAIL("no error");
        } catch (const UpstreamParseError& e) {
            std::string m = e.what();
            CHECK_THAT(m, Catch::Contains(want));
            CHECK(m.find('\n') == std::string::npos);
        }
    }
}

TEST_CASE("random mutations never crash the parser") {
    const std::string base =
        "upstream vibe_backend {\n    server 127.0.0.1:8080 weight=100;\n"
        "    server [::1]:8081 weight=1 max_fails=2;\n    keepalive 8;\n}\n";
    const char kChars[] = "{};#\"'\\:[] \n=0123456789abcupstreamserverweight\0\xff";
    const std::string alphabet(kChars, sizeof kChars - 1);  // includes the NUL byte
    std::mt19937 rng(12345);
    int parsed = 0, rejected = 0;
    for (int i = 0; i < 5000; ++i) {  // bounded
        std::string s = base;
        int edits = 1 + static_cast<int>(rng() % 8);
        for (int k = 0; k < edits; ++k) {
            std::size_t pos = rng() % (s.size() + 1);
            switch (rng() % 3) {
                case 0:
                    s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
                    break;
                case 1:
                    if (pos < s.size()) s.erase(pos, 1);
                    break;
                default:
                    if (pos < s.size()) s[pos] = alphabet[rng() % alphabet.size()];
            }
        }
        try {
            parse_upstreams(s);
            ++parsed;
        } catch (const UpstreamParseError&) {
            ++rejected;
        }
    }
    CHECK(parsed + rejected == 5000);
    CHECK(rejected > 0);
    CHECK(parsed > 0);
}

TEST_CASE("UpstreamFile writes atomically and restores the previous content") {
    zdd_test::TempDir d;
    UpstreamFile f(d / "vibe-upstream.conf");
    CHECK_FALSE(f.read().has_value());

    Upstream a{"vibe_backend", {{"127.0.0.1", 8080, 100, {}}}, 0, {}};
    f.write(a);
    REQUIRE(f.read());
    CHECK(parse_upstream(*f.read(), "vibe_backend").servers[0].port == 8080);
    f.restore();  // there was no file before the first write
    CHECK_FALSE(std::filesystem::exists(f.path()));

    f.write(a);
    const std::string first = *f.read();
    Upstream b{"vibe_backend", {{"127.0.0.1", 8081, 100, {}}, {"127.0.0.1", 8080, 1, {}}}, 0, {}};
    f.write(b);
    CHECK(*f.read() != first);
    CHECK(f.has_backup());
    f.restore();
    CHECK(*f.read() == first);
    CHECK_FALSE(f.has_backup());
    f.restore();  // no pending write: no-op
    CHECK(*f.read() == first);
    // no temp files left behind
    int n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(d.path())) ++n;
    CHECK(n == 1);
}
