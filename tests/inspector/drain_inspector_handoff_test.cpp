// drain-inspector wait --handoff as a real process against the real demo app (issue 12): the
// app hands its streams over at once and the wait ends on them; an app without the endpoint
// (404) gets one warning line and a normal wait for its streams.
#include <catch2/catch.hpp>
#include <regex>

#include "demo_app_process.hpp"
#include "inspector_process.hpp"

using namespace std::chrono_literals;
using zdd_demo_test::DemoApp;

namespace {

std::vector<std::string> wait_args(const DemoApp& app) {
    return {"wait", "--port",       std::to_string(app.port()),   "--handoff", "--timeout",
            "60",   "--health-url", app.url("/health/deployment")};
}

const std::map<std::string, std::string> kEnv{{"VIBE_DEPLOYMENT_TOKEN", DemoApp::kToken}};

}  // namespace

TEST_CASE("wait --handoff: the streams are handed over and the wait ends on them") {
    DemoApp app;
    const std::string out = zdd_demo_test::temp_path("stream");
    // 30 s streams: the wait can only end early by the handoff.
    auto a = zdd_demo_test::curl_child(app.url("/stream/test?duration=30&interval_ms=500"), out);
    auto b =
        zdd_demo_test::curl_child(app.url("/stream/test?duration=30&interval_ms=500"), out + "2");
    REQUIRE(app.wait_report([](const auto& r) { return r.value("activeStreams", 0) == 2; }, 5s));

    zdd_test::InspectorProcess w(wait_args(app), kEnv);
    REQUIRE(w.wait(30s) == 0);
    INFO(w.err() << w.out());
    CHECK(w.err().find("[INFO] handoff: " + app.url("/health/deployment/handoff") +
                       " accepted, 2 streams to hand over") != std::string::npos);
    CHECK(w.out().find("drained after") != std::string::npos);
    CHECK(w.out().find("; 2 streams handed off") != std::string::npos);
    // Both clients saw a clean end with the handoff event, while their streams had most of
    // their 30 s to go.
    CHECK(a.wait(5s) == 0);
    CHECK(b.wait(5s) == 0);
    for (const auto& f : {out, out + "2"}) {
        const std::string body = zdd_demo_test::read_file(f);
        CHECK(body.find("event: handoff") != std::string::npos);
        CHECK(body.find("event: done") == std::string::npos);
    }
}

TEST_CASE("wait --handoff: an app without the endpoint (404) is drained as usual") {
    DemoApp::Options o;
    o.args = {"--no-handoff"};
    DemoApp app(o);
    const std::string out = zdd_demo_test::temp_path("stream");
    auto s = zdd_demo_test::curl_child(app.url("/stream/test?duration=2&interval_ms=200"), out);
    REQUIRE(app.wait_report([](const auto& r) { return r.value("activeStreams", 0) == 1; }, 5s));

    zdd_test::InspectorProcess w(wait_args(app), kEnv);
    REQUIRE(w.wait(30s) == 0);
    INFO(w.err() << w.out());
    CHECK(std::regex_search(w.err(), std::regex(R"(\[WARN\] handoff not supported \(404\) by .*)"
                                                R"(; draining without it\n)")));
    CHECK(w.out().find("drained after") != std::string::npos);
    // The wait lasted until the stream ran to its end.
    CHECK(s.wait(5s) == 0);
    CHECK(zdd_demo_test::read_file(out).find("event: done") != std::string::npos);
}

TEST_CASE("wait --handoff needs --health-url") {
    zdd_test::InspectorProcess w({"wait", "--port", "8080", "--handoff"});
    CHECK(w.wait(10s) == 2);
    CHECK(w.err().find("--handoff requires --health-url") != std::string::npos);
}
