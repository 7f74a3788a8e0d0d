// The fuzz target nginx_time's properties in the main build: times written from parts (units in
// nginx's decreasing order, seeded random values) parse to the sum of their parts, or to -1
// exactly when that sum is beyond 2^50 ms; units out of order or repeated are refused.
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "nginx/nginx_conf_scan.hpp"

namespace {

constexpr long long kMax = 1LL << 50;
struct Unit {
    const char* name;
    long long ms;
};
constexpr Unit kUnits[] = {
    {"y", 365LL * 86400000}, {"M", 30LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
    {"h", 3600000},          {"m", 60000},           {"s", 1000},           {"ms", 1}};

}  // namespace

TEST_CASE("nginx times parse to the sum of their parts") {
    std::mt19937_64 rng(7);
    auto pick = [&](long long lo, long long hi) {
        return std::uniform_int_distribution<long long>(lo, hi)(rng);
    };
    int in_range = 0, out_of_range = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string text;
        long double expected = 0;
        for (const auto& u : kUnits) {
            if (pick(0, 2) == 0) continue;
            const long long v = pick(0, 3) == 0 ? pick(0, kMax) : pick(0, 1000);
            text += std::string(static_cast<size_t>(pick(0, 2)), ' ') + std::to_string(v) + u.name;
            expected += static_cast<long double>(v) * u.ms;
        }
        if (text.empty()) continue;
        const long long want = expected > kMax ? -1 : static_cast<long long>(expected);
        INFO(text);
        REQUIRE(zdd::parse_nginx_time_ms(text) == want);
        (want < 0 ? out_of_range : in_range)++;
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
