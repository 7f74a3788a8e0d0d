#include <catch2/catch.hpp>

#include <unistd.h>

#include "temp_dir.hpp"
#include "test_support.hpp"
#include "state/token.hpp"

using namespace zdd;

static const std::string kTok = "s3cr3t-T0ken_value";

static std::string error_of(const std::filesystem::path& p,
                            std::optional<std::string> env = std::nullopt) {
    try {
        load_token(p, env);
    } catch (const TokenError& e) {
        std::string m = e.what();
        CHECK(m.find(kTok) == std::string::npos);  // never the secret itself
        return m;
    }
    return "(no error)";
}

TEST_CASE("the environment wins over the file") {
    zdd_test::TempDir d;
    zdd_test::write_text(d / "deployment.env", "VIBE_DEPLOYMENT_TOKEN=from-file\n", 0600);
    auto t = load_token(d / "deployment.env", std::string("from-env"));
    CHECK(t.token.reveal() == "from-env");
    CHECK(t.source == "environment VIBE_DEPLOYMENT_TOKEN");
    auto f = load_token(d / "deployment.env", std::string(""));  // empty = unset
    CHECK(f.token.reveal() == "from-file");
    CHECK(f.source == (d / "deployment.env").string());
}

TEST_CASE("token file forms: env file, export/quotes, bare token") {
    zdd_test::TempDir d;
    auto p = d / "t";
    zdd_test::write_text(p, "# deploy\nOTHER=1\nVIBE_DEPLOYMENT_TOKEN=" + kTok + "\n", 0600);
    CHECK(load_token(p, std::nullopt).token.reveal() == kTok);
    zdd_test::write_text(p, "export VIBE_DEPLOYMENT_TOKEN=\"" + kTok + "\"\n", 0600);
    CHECK(load_token(p, std::nullopt).token.reveal() == kTok);
    zdd_test::write_text(p, kTok + "\n", 0600);
    CHECK(load_token(p, std::nullopt).token.reveal() == kTok);
    zdd_test::write_text(p, "dG9rZW4tYmFzZTY0==\n", 0400);  // base64 padding is not an env line
    CHECK(load_token(p, std::nullopt).token.reveal() == "dG9rZW4tYmFzZTY0==");
}

TEST_CASE("unsafe or unusable token files are refused with a clear message") {
    zdd_test::TempDir d;
    auto p = d / "deployment.env";
    zdd_test::write_text(p, "VIBE_DEPLOYMENT_TOKEN=" + kTok + "\n", 0644);
    CHECK_THAT(error_of(p), Catch::Contains("readable by group or others (mode 0644)"));
    zdd_test::write_text(p, "VIBE_DEPLOYMENT_TOKEN=" + kTok + "\n", 0640);
    CHECK_THAT(error_of(p), Catch::Contains("chmod 600"));
    CHECK_THAT(error_of(d / "missing"), Catch::Contains("no deployment token"));
    zdd_test::write_text(p, "OTHER=1\nMORE=2\n", 0600);
    CHECK_THAT(error_of(p), Catch::Contains("has no VIBE_DEPLOYMENT_TOKEN"));
    zdd_test::write_text(p, "VIBE_DEPLOYMENT_TOKEN=\n", 0600);
    CHECK_THAT(error_of(p), Catch::Contains("empty"));
    zdd_test::write_text(p, "VIBE_DEPLOYMENT_TOKEN=\"" + kTok + " x\"\n", 0600);
    CHECK_THAT(error_of(p), Catch::Contains("spaces or control"));
    CHECK_THAT(error_of(p, kTok + "\r\nX-Injected: 1"), Catch::Contains("spaces or control"));
    CHECK_THAT(error_of(d.path()), Catch::Contains("not a regular file"));
}

TEST_CASE("a token file owned by another user is refused, as documented") {
    zdd_test::require_root();
    zdd_test::TempDir d;
    const auto p = d / "deployment.env";
    zdd_test::write_text(p, "VIBE_DEPLOYMENT_TOKEN=" + kTok + "\n", 0600);
    REQUIRE(::chown(p.c_str(), 65534, 65534) == 0);
    const std::string msg = error_of(p);
    CHECK_THAT(msg, Catch::Contains("owned by uid 65534") && Catch::Contains(p.string()));
    CHECK(msg.find(kTok) == std::string::npos);
    // Root's, 0400: accepted.
    REQUIRE(::chown(p.c_str(), 0, 0) == 0);
    REQUIRE(::chmod(p.c_str(), 0400) == 0);
    CHECK(load_token(p, std::nullopt).token.reveal() == kTok);
}
