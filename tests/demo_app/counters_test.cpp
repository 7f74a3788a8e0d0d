// app_state over real HTTP: activeStreams and activeRequests rise and fall with the work in
// flight, including a stream whose client is killed mid-stream.
#include <signal.h>

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_demo_test::DemoApp;

TEST_CASE("activeRequests counts /work requests while they run", "[counters]") {
    DemoApp app;
    const auto out = zdd_demo_test::temp_path("work");
    auto a = zdd_demo_test::curl_child(app.url("/work?ms=1500"), out + "a");
    auto b = zdd_demo_test::curl_child(app.url("/work?ms=1500"), out + "b");
    REQUIRE(app.wait_report(
        [](auto& r) { return r["activeRequests"] == 2 && r["readyForShutdown"] == false; },
        3000ms));
    CHECK(app.deployment()["activeStreams"] == 0);
    // Health checks in between do not count.
    CHECK(zdd_demo_test::http_get(app.url("/health")).status == 200);
    CHECK(app.deployment()["activeRequests"] == 2);
    CHECK(a.wait(5000ms) == 0);
    CHECK(b.wait(5000ms) == 0);
    CHECK(app.wait_report(
        [](auto& r) { return r["activeRequests"] == 0 && r["readyForShutdown"] == true; }, 2000ms));
    CHECK(nlohmann::json::parse(zdd_demo_test::read_file(out + "a"))["workedMs"] == 1500);
}

TEST_CASE("activeStreams counts streams from start to done", "[counters]") {
    DemoApp app;
    const auto out = zdd_demo_test::temp_path("stream");
    auto a =
        zdd_demo_test::curl_child(app.url("/stream/test?duration=2&interval_ms=200"), out + "a");
    auto b =
        zdd_demo_test::curl_child(app.url("/stream/test?duration=2&interval_ms=200"), out + "b");
    REQUIRE(app.wait_report(
        [](auto& r) { return r["activeStreams"] == 2 && r["activeRequests"] == 0; }, 3000ms));
    CHECK(app.deployment()["readyForShutdown"] == false);
    CHECK(a.wait(10000ms) == 0);
    CHECK(b.wait(10000ms) == 0);
    CHECK(app.wait_report(
        [](auto& r) { return r["activeStreams"] == 0 && r["readyForShutdown"] == true; }, 2000ms));
    for (const char* s : {"a", "b"})
        CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_demo_test::read_file(out + s)),
                                       "done", 10) == "");
}

TEST_CASE("a stream whose client is killed stops counting at its next event", "[counters]") {
    DemoApp app;
    const auto out = zdd_demo_test::temp_path("killed");
    auto survivor = zdd_demo_test::curl_child(app.url("/stream/test?duration=6&interval_ms=200"),
                                              out + "survivor");
    auto victim = zdd_demo_test::curl_child(app.url("/stream/test?duration=60&interval_ms=200"),
                                            out + "victim");
    REQUIRE(app.wait_report([](auto& r) { return r["activeStreams"] == 2; }, 3000ms));
    victim.signal(SIGKILL);
    CHECK(victim.wait(2000ms) == 128 + SIGKILL);
    // Noticed at the next event (200 ms); the bound is generous.
    CHECK(app.wait_report([](auto& r) { return r["activeStreams"] == 1; }, 3000ms));
    CHECK(app.log().find("client gone") != std::string::npos);
    // The other stream is untouched and completes.
    CHECK(survivor.wait(15000ms) == 0);
    CHECK(zdd_demo_test::check_sse(
              zdd_demo_test::parse_sse(zdd_demo_test::read_file(out + "survivor")), "done", 30) ==
          "");
    CHECK(app.wait_report([](auto& r) { return r["activeStreams"] == 0; }, 2000ms));
}
