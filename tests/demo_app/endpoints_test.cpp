// demo_server endpoints over real HTTP: /, /health, the report's exact fields, /work, 404,
// and the command line (flags, environment, exit codes).
#include <set>

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"

using namespace std::chrono_literals;
using zdd_demo_test::DemoApp;
using zdd_demo_test::http_get;

TEST_CASE("/ and /health name the version and color", "[endpoints]") {
    DemoApp app;
    auto root = http_get(app.url("/"));
    REQUIRE(root.status == 200);
    auto j = nlohmann::json::parse(root.body);
    CHECK(j.at("version") == "test-1.0");
    CHECK(j.at("color") == "blue");
    CHECK(j.at("port") == app.port());

    auto health = http_get(app.url("/health"));
    REQUIRE(health.status == 200);
    CHECK(health.content_type == "application/json");
    CHECK(nlohmann::json::parse(health.body) ==
          nlohmann::json({{"status", "ok"}, {"version", "test-1.0"}}));

    auto missing = http_get(app.url("/no/such/path"));
    CHECK(missing.status == 404);
}

TEST_CASE("/health/deployment carries exactly the contract's fields", "[endpoints]") {
    DemoApp app;
    auto r = app.deployment();
    std::set<std::string> keys;
    for (auto& [k, v] : r.items()) keys.insert(k);
    CHECK(keys == std::set<std::string>{"status", "version", "activeStreams", "activeRequests",
                                        "deploymentColor", "port", "uptimeSeconds",
                                        "readyForShutdown", "handoffPending", "handedOff"});
    CHECK(r["status"] == "ok");
    CHECK(r["version"] == "test-1.0");
    CHECK(r["activeStreams"] == 0);
    CHECK(r["activeRequests"] == 0);  // the report itself is not a request
    CHECK(r["deploymentColor"] == "blue");
    CHECK(r["port"] == app.port());
    CHECK(r["uptimeSeconds"].is_number_integer());
    CHECK(r["uptimeSeconds"] >= 0);
    CHECK(r["readyForShutdown"] == true);
    CHECK(r["handoffPending"] == 0);
    CHECK(r["handedOff"] == 0);
}

TEST_CASE("/work takes the time asked for; bad ms is a 400", "[endpoints]") {
    DemoApp app;
    const auto start = std::chrono::steady_clock::now();
    auto r = http_get(app.url("/work?ms=300"));
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(r.status == 200);
    CHECK(nlohmann::json::parse(r.body).at("workedMs") == 300);
    CHECK(nlohmann::json::parse(r.body).at("color") == "blue");
    CHECK(took >= 300ms);
    for (const char* q : {"", "?ms=", "?ms=-1", "?ms=ten", "?ms=600001"}) {
        INFO(q);
        auto bad = http_get(app.url(std::string("/work") + q));
        CHECK(bad.status == 400);
        CHECK(bad.body.find("ms") != std::string::npos);
    }
}

TEST_CASE("PORT, DEPLOYMENT_COLOR and APP_VERSION come from the environment; flags win",
          "[endpoints][cli]") {
    const uint16_t port = zdd_test::free_port();
    DemoApp::Options opts;
    opts.choose_port = false;
    opts.env = {{"PORT", std::to_string(port)},
                {"DEPLOYMENT_COLOR", "green"},
                {"APP_VERSION", "env-version"},
                {"VIBE_DEPLOYMENT_TOKEN", DemoApp::kToken}};
    {
        DemoApp app(opts);
        auto r = app.deployment();
        CHECK(r["port"] == port);
        CHECK(r["deploymentColor"] == "green");
        CHECK(r["version"] == "env-version");
    }
    opts.args = {"--version-string", "flag-version", "--color", "blue"};
    DemoApp app(opts);
    auto r = app.deployment();
    CHECK(r["version"] == "flag-version");
    CHECK(r["deploymentColor"] == "blue");
}

TEST_CASE("bad command lines exit with distinct codes and a message", "[cli]") {
    auto run = [](const std::string& args, int expected) {
        int status = -1;
        const std::string out =
            zdd_test::run_capture(zdd_demo_test::demo_app_binary() + " " + args + " 2>&1", &status);
        INFO(args << " -> " << out);
        CHECK(status == expected);
        CHECK(!out.empty());
    };
    run("--help", 0);
    run("--port 70000", 2);
    run("--port abc", 2);
    run("--no-such-flag", 2);
    run("--max-connections 0", 2);
    run("--max-connections 900000", 2);  // beyond the open-file limit
    run("--host 256.1.1.1 --port 1", 3);
    // A port already taken: the second app cannot listen.
    auto busy = zdd_test::tcp_listen("127.0.0.1", 0);
    run("--port " + std::to_string(zdd_test::local_port(busy.get())), 3);
}

TEST_CASE("an oversized Range header closes that connection and nothing else", "[endpoints]") {
    DemoApp app;
    // httplib's recursive Range parser would overflow a small connection-thread stack.
    std::string range = "Range: bytes=0-1";
    while (range.size() < 8000) range += ",0-1";
    CHECK(http_get(app.url("/health"), {range}).status == 0);
    CHECK(http_get(app.url("/health"), {"Range: bytes=0-3"}).status == 200);
    CHECK(app.process().running());
    CHECK(http_get(app.url("/health")).status == 200);
}
