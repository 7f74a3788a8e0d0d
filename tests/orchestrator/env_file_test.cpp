#include <catch2/catch.hpp>

#include "state/env_file.hpp"
#include "temp_dir.hpp"

using namespace zdd;

TEST_CASE("env files: comments, export, quotes") {
    auto v = parse_env_text(
        "# comment\n\nA=1\nexport B = two words \nC=\"q \\\"x\\\" $y\"\nD='single # not comment'\n"
        "E=\nF=a=b==\n");
    REQUIRE(v.size() == 6);
    CHECK(v[0] == std::pair<std::string, std::string>{"A", "1"});
    CHECK(v[1] == std::pair<std::string, std::string>{"B", "two words"});
    CHECK(v[2].second == "q \"x\" $y");
    CHECK(v[3].second == "single # not comment");
    CHECK(v[4].second == "");
    CHECK(v[5].second == "a=b==");
}

TEST_CASE("env files: malformed lines name the line and never echo the value") {
    try {
        parse_env_text("A=1\nsecret-value-without-key\n", "f.env");
        FAIL("expected EnvFileError");
    } catch (const EnvFileError& e) {
        std::string m = e.what();
        CHECK(m.find("f.env line 2") != std::string::npos);
        CHECK(m.find("secret-value") == std::string::npos);
    }
    CHECK_THROWS_AS(parse_env_text("1A=x"), EnvFileError);
    CHECK_THROWS_AS(parse_env_text("A=\"unterminated"), EnvFileError);
    CHECK_THROWS_AS(read_env_file("/nonexistent/zdd.env"), EnvFileError);
}

TEST_CASE("read_env_file reads a real file") {
    zdd_test::TempDir d;
    zdd_test::write_text(d / "x.env", "APP_MODE=prod\n");
    auto v = read_env_file(d / "x.env");
    REQUIRE(v.size() == 1);
    CHECK(v[0].first == "APP_MODE");
}
