// handoff over real HTTP: POST /health/deployment/handoff (auth, 202, 405), SSE streams that
// end at a message boundary with retry + event: handoff, streams opened afterwards, the
// report's handoffPending/handedOff counts, and the overflow lane taking the handoff too.
#include <catch2/catch.hpp>

#include "demo_app_process.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_demo_test::DemoApp;
using zdd_demo_test::http_request;

namespace {

const std::string kAuth = std::string("Authorization: Bearer ") + DemoApp::kToken;

// A stream's output once its curl has ended: every event complete, ids 1..k in order, and the
// handoff goodbye as the very last bytes.
void check_handed_off(const std::string& text, const std::string& retry = "200") {
    INFO(text);
    const std::string goodbye = "retry: " + retry + "\nevent: handoff\ndata: {}\n\n";
    REQUIRE(text.size() > goodbye.size());
    CHECK(text.compare(text.size() - goodbye.size(), goodbye.size(), goodbye) == 0);
    auto events = zdd_demo_test::parse_sse(text);
    REQUIRE(events.size() >= 2);
    CHECK(events.back().event == "handoff");
    for (size_t i = 0; i + 1 < events.size(); ++i) {
        CHECK(events[i].event.empty());
        CHECK(events[i].id == std::to_string(i + 1));
    }
}

// n curl clients on 60 s streams (an event every 100 ms), output in out0, out1, ...; returns
// once the app counts them all.
std::vector<zdd_test::Subprocess> open_streams(const DemoApp& app, int n, const std::string& out) {
    std::vector<zdd_test::Subprocess> curls;
    for (int i = 0; i < n; ++i)
        curls.push_back(zdd_demo_test::curl_child(
            app.url("/stream/test?duration=60&interval_ms=100"), out + std::to_string(i)));
    REQUIRE(app.wait_report([&](auto& r) { return r["activeStreams"] == n; }, 5000ms));
    return curls;
}

// Each client ends by itself (the server closed its stream) with the handoff as its end.
void check_all_handed_off(std::vector<zdd_test::Subprocess>& curls, const std::string& out) {
    for (size_t i = 0; i < curls.size(); ++i) {
        CHECK(curls[i].wait(10000ms) == 0);  // curl exits 0: the server ended the stream
        check_handed_off(zdd_demo_test::read_file(out + std::to_string(i)));
    }
}

}  // namespace

TEST_CASE("handoff: token like /health/deployment, 202 when allowed, 405 other methods",
          "[handoff]") {
    DemoApp app;
    const auto url = app.url("/health/deployment/handoff");
    auto none = http_request("POST", url, {}, "");
    CHECK(none.status == 401);
    CHECK(none.headers.find("WWW-Authenticate: Bearer") != std::string::npos);
    CHECK(http_request("POST", url, {"Authorization: Bearer nope"}, "").status == 401);
    // Nothing was handed off by the refused calls.
    CHECK(app.deployment().at("handoffPending") == 0);

    auto ok = app.handoff();
    CHECK(ok.status == 202);
    CHECK(ok.content_type == "application/json");
    CHECK(nlohmann::json::parse(ok.body) == nlohmann::json({{"handoffPending", 0}}));
    // Idempotent; a bare POST (no body, no Content-Length) is answered too, not held for a body.
    auto bare = http_request("POST", url, {kAuth}, std::nullopt, 10000);
    CHECK(bare.status == 202);
    CHECK(http_request("POST", url, {kAuth}, std::string("ignored body")).status == 202);

    for (const char* method : {"GET", "HEAD", "PUT", "DELETE", "PATCH"}) {
        INFO(method);
        auto r = http_request(method, url, {kAuth});
        CHECK(r.status == 405);
        CHECK(r.headers.find("Allow: POST") != std::string::npos);
    }
    // The app keeps serving after a handoff: it only hands its streams over.
    CHECK(zdd_demo_test::http_get(app.url("/health")).status == 200);
    CHECK(app.deployment().at("status") == "ok");
}

TEST_CASE("handoff: 503 when no token is configured", "[handoff]") {
    DemoApp::Options o;
    o.env.erase("VIBE_DEPLOYMENT_TOKEN");
    o.unset_env.push_back("VIBE_DEPLOYMENT_TOKEN");
    DemoApp app(o);
    auto r = http_request("POST", app.url("/health/deployment/handoff"), {kAuth}, "");
    CHECK(r.status == 503);
    CHECK(nlohmann::json::parse(r.body).at("reason").get<std::string>().find(
              "VIBE_DEPLOYMENT_TOKEN") != std::string::npos);
}

TEST_CASE("handoff: open streams end at a boundary with retry and event: handoff", "[handoff]") {
    DemoApp app;
    const auto out = zdd_demo_test::temp_path("handoff");
    auto curls = open_streams(app, 3, out);
    // A finished stream is not handed over and not counted.
    auto finished = zdd_demo_test::http_get(app.url("/stream/test?duration=0"));
    REQUIRE(finished.status == 200);
    // Let each stream carry a few events first.
    REQUIRE(zdd_test::wait_until(
        [&] {
            for (int i = 0; i < 3; ++i)
                if (zdd_demo_test::read_file(out + std::to_string(i)).find("id: 3\n") ==
                    std::string::npos)
                    return false;
            return true;
        },
        5000ms));
    auto before = app.deployment();
    CHECK(before.at("handoffPending") == 0);
    CHECK(before.at("handedOff") == 0);

    auto r = app.handoff();
    REQUIRE(r.status == 202);
    CHECK(nlohmann::json::parse(r.body).at("handoffPending") == 3);
    check_all_handed_off(curls, out);
    REQUIRE(app.wait_report([](auto& r) { return r["activeStreams"] == 0; }, 5000ms));
    auto after = app.deployment();
    CHECK(after.at("handoffPending") == 0);
    CHECK(after.at("handedOff") == 3);
    CHECK(app.log().find("handed off") != std::string::npos);
}

TEST_CASE("handoff: a stream opened afterwards sends one event, then hands over", "[handoff]") {
    DemoApp::Options o;
    o.args = {"--handoff-retry-ms", "750"};
    DemoApp app(o);
    REQUIRE(app.handoff().status == 202);
    auto fresh =
        zdd_demo_test::http_get(app.url("/stream/test?duration=60&interval_ms=100"), {}, 10000);
    REQUIRE(fresh.status == 200);
    check_handed_off(fresh.body, "750");
    CHECK(zdd_demo_test::parse_sse(fresh.body).size() == 2);

    // A resumed one makes progress too: the next id, then the goodbye.
    auto resumed = zdd_demo_test::http_get(app.url("/stream/test?duration=60&interval_ms=100"),
                                           {"Last-Event-ID: 41"}, 10000);
    REQUIRE(resumed.status == 200);
    auto events = zdd_demo_test::parse_sse(resumed.body);
    REQUIRE(events.size() == 2);
    CHECK(events[0].id == "42");
    CHECK(events[1].event == "handoff");
    // One that has nothing left but done ends with done, not a handoff.
    auto tail = zdd_demo_test::http_get(app.url("/stream/test?duration=1&interval_ms=100"),
                                        {"Last-Event-ID: 10"}, 10000);
    CHECK(zdd_demo_test::parse_sse(tail.body).back().event == "done");

    REQUIRE(app.wait_report([](auto& r) { return r["activeStreams"] == 0; }, 5000ms));
    CHECK(app.deployment().at("handedOff") == 2);
    CHECK(app.deployment().at("handoffPending") == 0);
}

TEST_CASE("handoff: --handoff-retry-ms rejects values out of range", "[handoff]") {
    for (const char* bad : {"-1", "x", "3600001"}) {
        INFO(bad);
        zdd_test::Subprocess p(
            {zdd_demo_test::demo_app_binary(), "--port", "0", "--handoff-retry-ms", bad});
        CHECK(p.wait(5000ms) == 2);
    }
}

TEST_CASE("handoff: an app at capacity still takes it through the overflow lane", "[handoff]") {
    DemoApp::Options o;
    o.args = {"--max-connections", "2"};
    DemoApp app(o);
    const auto out = zdd_demo_test::temp_path("full");
    auto curls = open_streams(app, 2, out);
    // Both connections are taken: this POST is answered by the lane.
    auto r = app.handoff();
    REQUIRE(r.status == 202);
    CHECK(nlohmann::json::parse(r.body).at("handoffPending") == 2);
    CHECK(http_request("GET", app.url("/health/deployment/handoff"), {kAuth}).status == 405);
    check_all_handed_off(curls, out);
    REQUIRE(app.wait_report([](auto& r) { return r["activeStreams"] == 0; }, 5000ms));
    CHECK(app.deployment().at("handedOff") == 2);
}
