// The fuzz target nginx_time's properties in the main build: times written from parts
// (fuzz/nginx_time_gen.hpp fed by a seeded PRNG) parse to the sum of their parts, or to -1
// exactly when that sum is beyond 2^50 ms; units out of order or repeated are refused.
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "nginx/nginx_conf_scan.hpp"
#include "nginx_time_gen.hpp"

constexpr long long kMax = zdd_fuzz::kNginxTimeMax;

TEST_CASE("nginx times parse to the sum of their parts") {
    std::mt19937_64 rng(7);
    auto pick = [&](long long lo, long long hi) {
        return std::uniform_int_distribution<long long>(lo, hi)(rng);
    };
    int in_range = 0, out_of_range = 0;
    for (int i = 0; i < 5000; ++i) {
        const auto t = zdd_fuzz::generate_nginx_time(pick);
        if (t.text.empty()) continue;
        INFO(t.text);
        REQUIRE(zdd::parse_nginx_time_ms(t.text) == t.want_ms);
        (t.want_ms < 0 ? out_of_range : in_range)++;
    }
    CHECK(in_range > 500);
    CHECK(out_of_range > 500);
}

TEST_CASE("nginx times: bare seconds, bounds, and refused forms") {
    CHECK(zdd::parse_nginx_time_ms("90") == 90000);
    CHECK(zdd::parse_nginx_time_ms(" 1m 30s ") == 90000);
    CHECK(zdd::parse_nginx_time_ms("1h30m") == 5400000);
    CHECK(zdd::parse_nginx_time_ms("1125899906842624ms") == kMax);
    CHECK(zdd::parse_nginx_time_ms("1125899906842625ms") == -1);
    for (const char* bad : {"", " ", "s", "1x", "30s 1m", "1m 1m", "-1s", "1.5s", "1 2"}) {
        INFO(bad);
        CHECK(zdd::parse_nginx_time_ms(bad) == -1);
    }
}
