// A deploy interrupted in its drain: kill -9 (state explains it, `zdd status` shows it,
// `zdd drain` finishes it) and Ctrl-C (nginx and both instances left as they are, exit 13).
#include <signal.h>

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

zdd_test::Subprocess open_stream(E2eHost& h, const std::string& out, int seconds) {
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=" + std::to_string(seconds) +
                                              "&interval_ms=500",
                                          out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));
    return curl;
}

}  // namespace

TEST_CASE("e2e kill -9 mid-drain, then zdd drain finishes it", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = open_stream(h, out, 10);

    auto deploy = h.zdd_async("deploy", {h.demo_app_binary()}, {}, (h.dir() / "d.err").string());
    REQUIRE(h.wait_phase("draining", 30s));
    deploy.signal(SIGKILL);
    REQUIRE(deploy.wait(5s) == 128 + SIGKILL);

    auto st = h.zdd("status", {"--json"});
    REQUIRE(st.status == 0);
    auto j = nlohmann::json::parse(st.out);
    CHECK(j["draining"] == "blue");
    CHECK(j["active"] == "green");
    CHECK(j["deploy"]["interrupted"] == true);
    CHECK(j["drain"]["streams"] == 1);
    CHECK(j["hint"].get<std::string>().find("zdd drain") != std::string::npos);
    CHECK(h.zdd("status").out.find("zdd drain") != std::string::npos);
    // A new deploy waits for the drain to be finished.
    CHECK(h.zdd("deploy", {h.demo_app_binary()}).status == 5);
    CHECK(zdd_e2e::process_alive(blue_pid));

    auto d = h.zdd("drain");
    CHECK(d.status == 0);
    CHECK(curl.wait(10s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 20) ==
          "");
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
    CHECK(h.state()["draining"].is_null());
    CHECK(h.phase() == "done");
}

TEST_CASE("e2e SIGINT during the drain leaves everything running and says how to finish", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = open_stream(h, out, 6);
    const std::string err = (h.dir() / "d.err").string();
    auto deploy = h.zdd_async("deploy", {h.demo_app_binary()}, {}, err);
    REQUIRE(h.wait_phase("draining", 30s));
    const std::string upstream = zdd_e2e::read_file(h.upstream_file());
    deploy.signal(SIGINT);
    CHECK(deploy.wait(5s) == 13);
    CHECK(zdd_e2e::read_file(err).find("zdd drain") != std::string::npos);
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(zdd_e2e::process_alive(h.pid_of("green")));
    CHECK(zdd_e2e::read_file(h.upstream_file()) == upstream);
    CHECK(h.state()["draining"] == "blue");
    CHECK(h.zdd("drain", {"--color", "blue"}).status == 0);
    CHECK(curl.wait(10s) == 0);
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
}

TEST_CASE("e2e drain timeout cuts the stream, says what was cut, exits 3", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = open_stream(h, out, 30);
    auto r = h.zdd("deploy", {h.demo_app_binary(), "--drain-timeout", "2"});
    CHECK(r.status == 3);
    CHECK(r.err.find("cutting 1 connection, 1 stream, 0 requests") != std::string::npos);
    CHECK(r.err.find("cut: ") != std::string::npos);
    CHECK(curl.wait(10s) >= 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)),
                                   "cancelled") == "");
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
}
