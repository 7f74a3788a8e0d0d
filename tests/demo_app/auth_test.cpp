// auth: the constant-time comparison and bearer parsing, then each auth case over real HTTP.
#include "auth.hpp"

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"

using namespace zdd_demo;
using zdd_demo_test::DemoApp;
using zdd_demo_test::http_get;

TEST_CASE("constant_time_equals compares whole strings", "[auth]") {
    CHECK(constant_time_equals("secret", "secret"));
    CHECK(constant_time_equals("", ""));
    CHECK_FALSE(constant_time_equals("secret", "secreT"));
    CHECK_FALSE(constant_time_equals("secret", "Secret"));
    CHECK_FALSE(constant_time_equals("secret", "secret2"));
    CHECK_FALSE(constant_time_equals("secret", "secre"));
    CHECK_FALSE(constant_time_equals("secret", ""));
    CHECK_FALSE(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST_CASE("bearer_token takes the token of a Bearer header only", "[auth]") {
    CHECK(bearer_token("Bearer abc") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("bearer abc") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("  BEARER   abc  ") == std::optional<std::string_view>("abc"));
    CHECK_FALSE(bearer_token(""));
    CHECK_FALSE(bearer_token("Bearer"));
    CHECK_FALSE(bearer_token("Bearer   "));
    CHECK_FALSE(bearer_token("Basic abc"));
    CHECK_FALSE(bearer_token("Bearerabc"));
}

TEST_CASE("check_bearer: allowed, unauthorized, not configured", "[auth]") {
    CHECK(check_bearer("Bearer tok", "tok") == AuthResult::allowed);
    CHECK(check_bearer("Bearer tok2", "tok") == AuthResult::unauthorized);
    CHECK(check_bearer("Bearer to", "tok") == AuthResult::unauthorized);
    CHECK(check_bearer("", "tok") == AuthResult::unauthorized);
    CHECK(check_bearer("Basic tok", "tok") == AuthResult::unauthorized);
    CHECK(check_bearer("Bearer tok", "") == AuthResult::not_configured);
    CHECK(check_bearer("", "") == AuthResult::not_configured);
}

TEST_CASE("/health/deployment over HTTP: right, wrong and missing token", "[auth][http]") {
    DemoApp app;
    const std::string url = app.url("/health/deployment");

    auto right = http_get(url, {std::string("Authorization: Bearer ") + DemoApp::kToken});
    CHECK(right.status == 200);
    CHECK(nlohmann::json::parse(right.body).at("deploymentColor") == "blue");

    for (const std::string& header :
         {std::string("Authorization: Bearer wrong-token"),
          std::string("Authorization: Bearer ") + DemoApp::kToken + "x",
          std::string("Authorization: Bearer ") +
              std::string(DemoApp::kToken).substr(0, std::string(DemoApp::kToken).size() - 1),
          std::string("Authorization: Basic ") + DemoApp::kToken, std::string("X-Other: 1")}) {
        INFO(header);
        auto r = http_get(url, {header});
        CHECK(r.status == 401);
        CHECK(r.body.find("activeStreams") == std::string::npos);
    }
}

TEST_CASE("/health/deployment answers 503 when no token is configured", "[auth][http]") {
    for (bool set_empty : {true, false}) {
        INFO("token variable " << (set_empty ? "set but empty" : "unset"));
        DemoApp::Options opts;
        if (set_empty) {
            opts.env["VIBE_DEPLOYMENT_TOKEN"] = "";
        } else {
            opts.env.erase("VIBE_DEPLOYMENT_TOKEN");
            opts.unset_env = {"VIBE_DEPLOYMENT_TOKEN"};
        }
        DemoApp app(opts);
        auto r = http_get(app.url("/health/deployment"), {"Authorization: Bearer anything"});
        CHECK(r.status == 503);
        CHECK(r.body.find("Service Unavailable") != std::string::npos);
        CHECK(r.body.find("activeStreams") == std::string::npos);
        // The public health check is not affected.
        CHECK(http_get(app.url("/health")).status == 200);
    }
}
