// The fuzz target nginx_upstream_roundtrip's property in the main build, on a fixed sequence of
// generated upstreams (fuzz/upstream_gen.hpp fed by a seeded PRNG): render -> parse by name
// gives the same upstream, and rendering it again gives the same text. The fuzzer explores;
// this runs on every build, with gcc and no clang needed.
#include <catch2/catch.hpp>
#include <random>

#include "nginx/nginx_upstream.hpp"
#include "upstream_gen.hpp"

TEST_CASE("render -> parse gives every generated upstream back") {
    std::mt19937_64 rng(20261130);
    auto pick = [&](long long lo, long long hi) {
        return std::uniform_int_distribution<long long>(lo, hi)(rng);
    };
    int keepalive = 0, v6 = 0, weighted = 0;
    for (int i = 0; i < 2000; ++i) {
        const zdd::Upstream u = zdd_fuzz::generate_upstream(pick);
        const std::string text = zdd::render_upstream(u);
        INFO(text);
        zdd::Upstream back;
        REQUIRE_NOTHROW(back = zdd::parse_upstream(text, u.name));
        REQUIRE(zdd_fuzz::upstream_difference(u, back) == "");
        REQUIRE(zdd::render_upstream(back) == text);
        keepalive += u.keepalive > 0;
        for (const auto& s : u.servers) {
            v6 += s.host.find(':') != std::string::npos;
            weighted += s.weight > 1;
        }
    }
    // The generator covered what the renderer branches on.
    CHECK(keepalive > 100);
    CHECK(v6 > 100);
    CHECK(weighted > 100);
}

TEST_CASE("what zdd renders for a deploy step parses back, weights and keepalive included") {
    const zdd::Upstream step{
        "vibe_backend", {{"127.0.0.1", 8081, 100, {}}, {"::1", 8080, 1, {"max_fails=0"}}}, 16, {}};
    const auto back = zdd::parse_upstream(zdd::render_upstream(step), "vibe_backend");
    CHECK(zdd_fuzz::upstream_difference(step, back) == "");
    CHECK(back.keepalive == 16);
    CHECK(back.servers.at(0).weight == 100);
    CHECK(back.servers.at(1).host == "::1");
}

// The generator rarely lands on an edge (keepalive 1 is one draw in 1024): each edge of what the
// renderer compares on, once, so an off-by-one there cannot pass by luck of the seed.
TEST_CASE("render -> parse at the edges: keepalive 0, 1 and large, weight and port bounds") {
    for (int keepalive : {0, 1, 2, 1024, 100000}) {
        const zdd::Upstream u{
            "b", {{"127.0.0.1", 1, 1, {}}, {"::1", 65535, 1000000, {"backup"}}}, keepalive, {}};
        const std::string text = zdd::render_upstream(u);
        INFO(text);
        CHECK((text.find("keepalive") != std::string::npos) == (keepalive > 0));
        zdd::Upstream back;
        REQUIRE_NOTHROW(back = zdd::parse_upstream(text, "b"));
        CHECK(zdd_fuzz::upstream_difference(u, back) == "");
        CHECK(zdd::render_upstream(back) == text);
    }
}
