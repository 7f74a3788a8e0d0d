// `zdd rollback` while a deploy (or `zdd drain`) is in step 5: the drainer stands down
// (SIGUSR1, exit 18) without touching anything, the rollback puts the draining color back
// into nginx and drains the other one. No stream on either color is cut. A drainer that does
// not stand down within 10 s: the rollback exits 4 and changes nothing.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "e2e_streams.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

// Blue deployed (its first deploy) and its pid.
int deploy_blue(E2eHost& h) {
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    return h.pid_of("blue");
}

// Blue deployed with a stream of `stream_s` seconds on it, then a deploy of green with
// DRAIN_TIMEOUT=0 left running in its drain (stderr in deploy.err).
struct EndlessDrain {
    int blue_pid;
    std::string out, err;
    zdd_test::Subprocess curl, deploy;
    EndlessDrain(E2eHost& h, int stream_s)
        : blue_pid(deploy_blue(h)),
          out((h.dir() / "stream.txt").string()),
          err((h.dir() / "deploy.err").string()),
          curl(zdd_e2e::open_blue_stream(h, out, stream_s)),
          deploy(h.zdd_async("deploy", {h.demo_app_binary()}, {{"DRAIN_TIMEOUT", "0"}}, err)) {
        REQUIRE(h.wait_phase("draining", 30s));
    }
};

}  // namespace

TEST_CASE("e2e rollback during a deploy's endless drain takes it over", "[e2e]") {
    E2eHost h;
    EndlessDrain d(h, 8);
    auto& [blue_pid, out, err, curl, deploy] = d;
    REQUIRE(h.color_through_nginx() == "green");
    const int green_pid = h.pid_of("green");
    // A stream on green too (nginx sends everything there now): the rollback drains it.
    const std::string green_out = (h.dir() / "green-stream.txt").string();
    auto green_curl =
        zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                      "/stream/test?duration=6&interval_ms=500",
                                  green_out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.green_port()).value("activeStreams", 0) == 1; }, 5s));

    auto r = h.zdd("rollback", {}, {}, 60s);
    CHECK(r.status == 0);
    CHECK(r.err.find("stand down") != std::string::npos);
    CHECK(deploy.wait(5s) == 18);
    CHECK(zdd_e2e::read_file(err).find("superseded by a rollback") != std::string::npos);

    // Blue (never stopped) serves again; green was drained and stopped.
    CHECK(h.color_through_nginx() == "blue");
    CHECK(h.pid_of("blue") == blue_pid);
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK_FALSE(zdd_e2e::process_alive(green_pid));
    auto st = h.state();
    CHECK(st["active"] == "blue");
    CHECK(st["draining"].is_null());
    CHECK(st["deploy"]["phase"] == "done");

    // Neither stream was cut: the one on blue and the one on green (drained) got every event.
    CHECK(curl.wait(15s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 16) ==
          "");
    CHECK(green_curl.wait(5s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(green_out)), "done",
                                   12) == "");
}

TEST_CASE("e2e rollback gives up after 10 s on a drainer that does not stand down", "[e2e]") {
    E2eHost h;
    EndlessDrain d(h, 25);
    auto& [blue_pid, out, err, curl, deploy] = d;
    // A stopped drainer cannot act on SIGUSR1 (it stays pending): the wait for the lock is
    // bounded, and nothing changes.
    deploy.signal(SIGSTOP);
    auto r = h.zdd("rollback", {}, {}, 60s);
    CHECK(r.status == 4);
    CHECK(r.err.find("did not stand down within 0m 10s of SIGUSR1; nothing was changed") !=
          std::string::npos);
    CHECK(h.color_through_nginx() == "green");
    CHECK(h.state()["draining"] == "blue");
    CHECK(h.state()["deploy"]["phase"] == "draining");

    // Continued, the drainer takes the pending request and stands down; a rollback now works.
    deploy.signal(SIGCONT);
    CHECK(deploy.wait(5s) == 18);
    CHECK(h.zdd("rollback", {}, {}, 60s).status == 0);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(h.pid_of("blue") == blue_pid);
    CHECK(curl.wait(25s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 50) ==
          "");
}

TEST_CASE("e2e rollback takes over a `zdd drain` in step 5 too", "[e2e]") {
    E2eHost h;
    const int blue_pid = deploy_blue(h);
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_e2e::open_blue_stream(h, out, 8);

    // A deploy killed in its drain, then `zdd drain` finishing it, forever.
    auto deploy = h.zdd_async("deploy", {h.demo_app_binary()}, {}, (h.dir() / "d.err").string());
    REQUIRE(h.wait_phase("draining", 30s));
    deploy.signal(SIGKILL);
    REQUIRE(deploy.wait(5s) == 128 + SIGKILL);
    const std::string err = (h.dir() / "drain.err").string();
    auto drain = h.zdd_async("drain", {"--drain-timeout", "0"}, {}, err);
    REQUIRE(zdd_test::wait_until(
        [&] { return zdd_e2e::read_file(err).find("Step 5") != std::string::npos; }, 20s));

    auto r = h.zdd("rollback", {}, {}, 60s);
    CHECK(r.status == 0);
    CHECK(drain.wait(5s) == 18);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(curl.wait(15s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 16) ==
          "");
}

TEST_CASE("e2e rollback does not signal a zdd that is not draining", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    // A deploy held in its health check (a binary that never answers /health).
    const auto script = h.dir() / "silent.sh";
    zdd_test::write_text(script, "#!/bin/sh\nexec sleep 60\n");
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    const std::string err = (h.dir() / "d.err").string();
    auto deploy = h.zdd_async("deploy", {script.string(), "--health-timeout", "20"}, {}, err);
    REQUIRE(h.wait_phase("health_check", 20s));
    auto r = h.zdd("rollback");
    CHECK(r.status == 4);
    CHECK(r.err.find("step 5") != std::string::npos);
    deploy.signal(SIGINT);
    CHECK(deploy.wait(10s) == 13);
}
