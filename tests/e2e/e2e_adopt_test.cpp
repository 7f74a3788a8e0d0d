// A host run by the original script (vibe-zero-downtime): its status file names blue, blue's
// port is listening, nginx points at it, and zdd has no state yet. zdd adopts blue as it is,
// deploys green, drains blue (a stream through nginx completes) and stops the adopted process.
#include <catch2/catch.hpp>
#include <thread>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("e2e a host run by the original script is adopted as it is", "[e2e]") {
    E2eHost h;
    // What the original script left running: blue started by hand (systemd in production).
    zdd_test::Subprocess blue({h.demo_app_binary()},
                              {{"PORT", std::to_string(h.blue_port())},
                               {"DEPLOYMENT_COLOR", "blue"},
                               {"APP_VERSION", "seed-v1"},
                               {"VIBE_DEPLOYMENT_TOKEN", E2eHost::kToken}},
                              (h.dir() / "blue.out").string(), (h.dir() / "blue.err").string());
    REQUIRE(zdd_test::wait_until(
        [&] {
            auto j = h.deployment_report(h.blue_port());  // discarded until it answers
            return j.is_object() && j.value("deploymentColor", "") == "blue";
        },
        10s));
    zdd_test::write_text(h.dir() / "deployment.status", "blue\n");
    REQUIRE(h.color_through_nginx() == "blue");

    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=4&interval_ms=500",
                                          out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));

    auto r = h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v2"}});
    REQUIRE(r.status == 0);
    CHECK(r.err.find("adopting the running blue on port " + std::to_string(h.blue_port())) !=
          std::string::npos);
    CHECK(curl.wait(10s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 8) ==
          "");
    // The adopted process was drained and stopped by zdd, not left behind.
    CHECK(blue.wait(10s) == 0);
    CHECK(h.color_through_nginx() == "green");
    CHECK(zdd_e2e::read_file(h.dir() / "deployment.status") == "green\n");
    auto st = h.state();
    CHECK(st["active"] == "green");
}
