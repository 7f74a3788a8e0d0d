// The held canary (--shift-hold, --weights): a release whose /health starts failing during the
// hold is backed out by itself (old color alone again, the canary drained: a stream on it gets
// every event, then stopped, exit 19) while wrk (Connection: close) through nginx sees no
// error; one whose process dies in the hold too; a good one goes on.
#include <signal.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <thread>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "sse_check.hpp"
#include "wrk_load.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("e2e a canary that fails /health during the hold is backed out", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    // The new release's /health answers 503 once it is up 6 s: after step 2, during the hold.
    const auto env_file = h.dir() / "canary.env";
    zdd_test::write_text(env_file, "FAIL_HEALTH_AFTER_S=6\n");

    zdd_load::WrkLoad wrk("http://127.0.0.1:" + std::to_string(h.nginx_port()) + "/", 1, 4, 120s,
                          {"Connection: close"}, (h.dir() / "wrk.txt").string());
    std::this_thread::sleep_for(500ms);
    const std::string err_path = (h.dir() / "deploy.err").string();
    auto deploy = h.zdd_async("deploy",
                              {h.demo_app_binary(), "--shift-hold", "60", "--weights", "10:1",
                               "--env-file", env_file.string()},
                              {}, err_path);
    // A stream on the canary during the hold: the back-out drains it, it is not cut.
    REQUIRE(h.wait_phase("shifting", 30s));
    const std::string stream_out = (h.dir() / "canary-stream.txt").string();
    auto stream = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.green_port()) +
                                                "/stream/test?duration=8&interval_ms=500",
                                            stream_out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.green_port()).value("activeStreams", 0) == 1; }, 5s));
    CHECK(deploy.wait(60s) == 19);
    const std::string err = zdd_e2e::read_file(err_path);
    INFO(err);
    CHECK(err.find("weight=10") != std::string::npos);
    CHECK(err.find("canary green failed during the hold: green's /health") != std::string::npos);
    CHECK(stream.wait(5s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(stream_out)), "done",
                                   16) == "");
    REQUIRE(wrk.running());
    std::this_thread::sleep_for(500ms);
    auto s = wrk.stop();
    INFO(zdd_e2e::read_file(wrk.output_path()));
    std::cout << "canary: " << s.requests << " requests across the back-out, " << s.errors()
              << " errors\n";
    CHECK(s.requests > 0);
    CHECK(s.errors() == 0);

    CHECK(h.color_through_nginx() == "blue");
    // Blue alone: green's port is gone from the upstream.
    CHECK(zdd_e2e::read_file(h.upstream_file()).find(":" + std::to_string(h.green_port())) ==
          std::string::npos);
    CHECK(zdd_e2e::read_file(h.upstream_file()).find(":" + std::to_string(h.blue_port())) !=
          std::string::npos);
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(h.pid_of("blue") == blue_pid);
    auto j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j["active"] == "blue");
    CHECK(j["colors"]["green"]["running"] == false);
    CHECK(j["colors"]["green"]["release"] == "");  // never a rollback target
    CHECK(j["last_error"].get<std::string>().find("canary green failed") != std::string::npos);
    CHECK(j["deploy"]["phase"] == "done");
}

TEST_CASE("e2e a canary whose process dies during the hold is backed out", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const std::string err_path = (h.dir() / "deploy.err").string();
    auto deploy = h.zdd_async("deploy", {h.demo_app_binary(), "--shift-hold", "60"}, {}, err_path);
    // In the hold itself (step 3's probe has confirmed green).
    REQUIRE(zdd_test::wait_until(
        [&] {
            return zdd_e2e::read_file(err_path).find("holding these weights") != std::string::npos;
        },
        30s));
    const int green_pid = h.pid_of("green");
    REQUIRE(green_pid > 0);
    REQUIRE(::kill(green_pid, SIGKILL) == 0);
    CHECK(deploy.wait(60s) == 19);
    const std::string err = zdd_e2e::read_file(err_path);
    INFO(err);
    // The process check finds it, or /health when the kill lands inside a check (between the
    // two); deploy_flow_test pins the process check itself.
    CHECK((err.find("canary green failed during the hold: green's process exited") !=
               std::string::npos ||
           err.find("canary green failed during the hold: green's /health") != std::string::npos));
    CHECK(h.color_through_nginx() == "blue");
    auto j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j["active"] == "blue");
    CHECK(j["colors"]["green"]["running"] == false);
}

TEST_CASE("e2e a canary that stays good through the hold takes the traffic", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    auto r = h.zdd("deploy", {h.demo_app_binary(), "--shift-hold", "2"});
    CHECK(r.status == 0);
    CHECK(r.err.find("green stayed good for 0m 2s") != std::string::npos);
    CHECK(h.color_through_nginx() == "green");
    CHECK(h.pid_of("blue") == 0);
}

TEST_CASE("e2e --weights is validated", "[e2e]") {
    E2eHost h;
    for (const char* bad : {"0:1", "100", "a:b", "100:1:2", "2000:1"}) {
        auto r = h.zdd("deploy", {h.demo_app_binary(), "--weights", bad});
        INFO(bad);
        CHECK(r.status == 2);
        CHECK(r.err.find("--weights") != std::string::npos);
    }
}
