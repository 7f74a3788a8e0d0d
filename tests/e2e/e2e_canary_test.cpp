// The held canary (--shift-hold, --weights): a release whose /health starts failing during the
// hold is backed out by itself (old color alone again, the canary drained and stopped, exit
// 19) while wrk (Connection: close) through nginx sees no error; a good one goes on.
#include <catch2/catch.hpp>
#include <iostream>
#include <thread>

#include "e2e_host.hpp"
#include "wrk_load.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("e2e a canary that fails /health during the hold is backed out", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    // The new release's /health answers 503 once it is up 4 s: after step 2, during the hold.
    const auto env_file = h.dir() / "canary.env";
    zdd_test::write_text(env_file, "FAIL_HEALTH_AFTER_S=4\n");

    zdd_load::WrkLoad wrk("http://127.0.0.1:" + std::to_string(h.nginx_port()) + "/", 1, 4, 120s,
                          {"Connection: close"}, (h.dir() / "wrk.txt").string());
    std::this_thread::sleep_for(500ms);
    auto r = h.zdd("deploy", {h.demo_app_binary(), "--shift-hold", "60", "--weights", "10:1",
                              "--env-file", env_file.string()});
    CHECK(r.status == 19);
    CHECK(r.err.find("weight=10") != std::string::npos);
    CHECK(r.err.find("canary green failed during the hold: green's /health") != std::string::npos);
    REQUIRE(wrk.running());
    std::this_thread::sleep_for(500ms);
    auto s = wrk.stop();
    INFO(zdd_e2e::read_file(wrk.output_path()));
    std::cout << "canary: " << s.requests << " requests across the back-out, " << s.errors()
              << " errors\n";
    CHECK(s.requests > 0);
    CHECK(s.errors() == 0);

    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(h.pid_of("blue") == blue_pid);
    auto j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j["active"] == "blue");
    CHECK(j["colors"]["green"]["running"] == false);
    CHECK(j["colors"]["green"]["release"] == "");  // never a rollback target
    CHECK(j["last_error"].get<std::string>().find("canary green failed") != std::string::npos);
    CHECK(j["deploy"]["phase"] == "done");
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
