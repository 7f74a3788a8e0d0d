// shutdown_signals: SIGTERM drains (listener closed, every stream and request completes, exit 0);
// SIGINT cancels (each stream ends with `event: cancelled`, then the app exits). The bounds here
// are generous waits for events, not timings: how fast that happens is measured by benchmarks.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_demo_test::DemoApp;

TEST_CASE("SIGTERM: new connections refused, in-flight streams and requests complete, exit 0",
          "[signals]") {
    DemoApp app;
    const auto out = zdd_demo_test::temp_path("sigterm");
    auto stream = zdd_demo_test::curl_child(app.url("/stream/test?duration=3&interval_ms=250"),
                                            out + "stream");
    auto work = zdd_demo_test::curl_child(app.url("/work?ms=1500"), out + "work");
    REQUIRE(app.wait_report(
        [](auto& r) { return r["activeStreams"] == 1 && r["activeRequests"] == 1; }, 30s));

    app.process().signal(SIGTERM);
    // The listener goes away at once: a new client is refused, not queued.
    CHECK(zdd_test::wait_until(
        [&] { return zdd_demo_test::http_get(app.url("/health"), {}, 1000).status == 0; }, 30s,
        20ms));
    CHECK(app.process().running());  // still serving what it has: the request takes 1.5 s

    CHECK(work.wait(30s) == 0);
    CHECK(nlohmann::json::parse(zdd_demo_test::read_file(out + "work"))["workedMs"] == 1500);
    CHECK(stream.wait(30s) == 0);
    CHECK(zdd_demo_test::check_sse(
              zdd_demo_test::parse_sse(zdd_demo_test::read_file(out + "stream")), "done", 12) ==
          "");
    CHECK(app.process().wait(30s) == 0);
    const std::string log = app.log();
    CHECK(log.find("SIGTERM: draining") != std::string::npos);
    CHECK(log.find("stop: drain complete") != std::string::npos);
    CHECK(log.find("cancelled") == std::string::npos);
}

TEST_CASE("SIGTERM with nothing in flight exits 0 at once, even with an idle keep-alive",
          "[signals]") {
    DemoApp::Options o;
    o.args = {"--keep-alive-timeout", "120"};
    DemoApp app(o);
    // An idle keep-alive connection must not hold the exit for its keep-alive timeout.
    auto idle = zdd_test::tcp_connect("127.0.0.1", app.port());
    const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(::write(idle.get(), req.data(), req.size()) == static_cast<ssize_t>(req.size()));
    char buf[512];
    REQUIRE(::read(idle.get(), buf, sizeof buf) > 0);
    app.process().signal(SIGTERM);
    // Well below the 120 s keep-alive timeout: only an exit that ignores the idle one is here.
    CHECK(app.process().wait(30s) == 0);
}

TEST_CASE("SIGINT: every stream ends with `cancelled`, then the app exits", "[signals]") {
    DemoApp app;
    const auto out = zdd_demo_test::temp_path("sigint");
    auto s1 =
        zdd_demo_test::curl_child(app.url("/stream/test?duration=60&interval_ms=200"), out + "1");
    auto s2 = zdd_demo_test::curl_child(app.url("/stream/test?duration=60"), out + "2");
    auto work = zdd_demo_test::curl_child(app.url("/work?ms=30000"), out + "work");
    REQUIRE(app.wait_report(
        [](auto& r) { return r["activeStreams"] == 2 && r["activeRequests"] == 1; }, 30s));
    // A numbered event on each stream before the cancel.
    for (const char* s : {"1", "2"})
        REQUIRE(zdd_test::wait_until(
            [&] { return !zdd_demo_test::parse_sse(zdd_demo_test::read_file(out + s)).empty(); },
            30s));

    app.process().signal(SIGINT);
    // Streams of 60 s and a 30 s request: ending well before that is the cancel's doing.
    CHECK(s1.wait(20s) == 0);
    CHECK(s2.wait(20s) == 0);
    CHECK(work.wait(20s) >= 0);
    CHECK(app.process().wait(20s) == 0);
    for (const char* s : {"1", "2"}) {
        INFO("stream " << s);
        auto events = zdd_demo_test::parse_sse(zdd_demo_test::read_file(out + s));
        CHECK(zdd_demo_test::check_sse(events, "cancelled") == "");
        CHECK(events.size() >= 2);  // at least one numbered event before the cancel
    }
    CHECK(zdd_demo_test::read_file(out + "work").find("cancelled") != std::string::npos);
    CHECK(app.log().find("SIGINT: cancelling 2 streams and 1 requests") != std::string::npos);
}
