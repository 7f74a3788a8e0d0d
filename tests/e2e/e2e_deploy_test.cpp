// The deploy happy path on a real nginx with the real demo app: a 20-second SSE stream opened
// through nginx before the deploy survives it whole; requests after step 4 reach the new
// color; the old instance exits only after the stream ends; status --json lists the phases.
#include <catch2/catch.hpp>
#include <thread>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("e2e deploy keeps a 20 s stream whole and moves new requests", "[e2e]") {
    E2eHost h;
    auto first = h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}});
    REQUIRE(first.status == 0);
    REQUIRE(h.color_through_nginx() == "blue");
    const int blue_pid = h.pid_of("blue");
    REQUIRE(zdd_e2e::process_alive(blue_pid));

    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=20&interval_ms=500",
                                          out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));

    const std::string err = (h.dir() / "deploy2.err").string();
    auto deploy = h.zdd_async("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v2"}}, err);
    REQUIRE(h.wait_phase("draining", 30s));
    for (int i = 0; i < 5; ++i) CHECK(h.color_through_nginx() == "green");

    // The old instance lives as long as the stream does.
    bool blue_alive_while_streaming = true;
    while (curl.running()) {
        if (!zdd_e2e::process_alive(blue_pid)) blue_alive_while_streaming = false;
        std::this_thread::sleep_for(100ms);
    }
    CHECK(curl.wait(1s) == 0);
    CHECK(blue_alive_while_streaming);
    const int rc = deploy.wait(30s);
    INFO("zdd stderr:\n" << zdd_e2e::read_file(err));
    REQUIRE(rc == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 40) ==
          "");
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
    CHECK(h.color_through_nginx() == "green");

    const std::string log = zdd_e2e::read_file(err);
    CHECK(log.find("[INFO] Waiting [0m ") != std::string::npos);
    CHECK(log.find("Streams: 1 (Active: ") != std::string::npos);

    auto st = h.zdd("status", {"--json"});
    REQUIRE(st.status == 0);
    auto j = nlohmann::json::parse(st.out);
    CHECK(j["active"] == "green");
    CHECK(j["colors"]["blue"]["running"] == false);
    CHECK(j["colors"]["green"]["running"] == true);
    CHECK(j["colors"]["green"]["version"] == "v2");
    std::vector<std::string> phases;
    for (const auto& p : j["deploy"]["phases"]) phases.push_back(p["phase"]);
    CHECK(phases == std::vector<std::string>{"starting", "health_check", "shifting", "removing_old",
                                             "draining", "stopping", "done"});
    double prev = 0;
    for (const auto& p : j["deploy"]["phases"]) {
        CHECK(p["at"].get<double>() >= prev);
        prev = p["at"];
    }
    // The token never reaches the state.
    CHECK(zdd_e2e::read_file(h.dir() / "state" / "state.json").find(E2eHost::kToken) ==
          std::string::npos);
}

TEST_CASE("e2e precedence: DRAIN_TIMEOUT=0 in the env beats drain-timeout=2 in the config",
          "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    zdd_test::write_text(h.dir() / "zdd.conf", "drain-timeout=2\n");

    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=8&interval_ms=500",
                                          out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));
    auto r = h.zdd("deploy", {"--config", (h.dir() / "zdd.conf").string(), h.demo_app_binary()},
                   {{"APP_VERSION", "v2"}, {"DRAIN_TIMEOUT", "0"}});
    CHECK(r.status == 0);
    CHECK(curl.wait(15s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 16) ==
          "");
    CHECK(r.err.find("timeout none") != std::string::npos);
}

TEST_CASE("e2e --help lists every exit code; the seed's alias answers", "[e2e]") {
    zdd_test::TempDir tmp("zdd-e2e-help");
    zdd_test::Subprocess p({zdd_test::build_dir() + "/orchestrator/zdd", "--help"}, {},
                           tmp.file("help.out"));
    REQUIRE(p.wait(10s) == 0);
    std::string help = zdd_e2e::read_file(tmp / "help.out");
    for (int code = 0; code <= 22; ++code) {
        char line[16];
        std::snprintf(line, sizeof line, "\n%3d  ", code);
        CHECK(help.find(line) != std::string::npos);
    }
    zdd_test::Subprocess a({zdd_test::build_dir() + "/orchestrator/vibe-zero-downtime", "--help"},
                           {}, tmp.file("help-alias.out"));
    REQUIRE(a.wait(10s) == 0);
    help = zdd_e2e::read_file(tmp / "help-alias.out");
    CHECK(help.find("vibe-zero-downtime") != std::string::npos);
    CHECK(help.find("deploy") != std::string::npos);
    CHECK(help.find("rollback") != std::string::npos);
    CHECK(help.find("doctor") == std::string::npos);
}
