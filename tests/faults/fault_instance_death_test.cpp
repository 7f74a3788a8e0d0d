// An instance dies while the old color drains. The old one dying ends its drain (nothing is
// left to wait for): zdd finishes the deploy, and new traffic never notices. The new one dying
// leaves nginx with no live server: zdd must notice, say so, and put the old color (still
// running, it was draining) back in front, so the service comes back without an operator.
#include <signal.h>

#include <catch2/catch.hpp>
#include <thread>

#include "demo_app_process.hpp"
#include "fault_support.hpp"
#include "nginx_tuning.hpp"
#include "runner/port_owner.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

zdd_test::Subprocess stream_on_blue(E2eHost& h, int seconds) {
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=" + std::to_string(seconds) +
                                              "&interval_ms=500",
                                          (h.dir() / "stream.txt").string());
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));
    return curl;
}

}  // namespace

TEST_CASE("fault: the old instance dies during the drain", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    auto stream = stream_on_blue(h, 30);
    const std::string err = (h.dir() / "deploy.err").string();
    auto deploy = h.zdd_async("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v2"}}, err);
    REQUIRE(h.wait_phase("draining", 30s));
    auto traffic = zdd_fault::start_traffic(h);

    ::kill(blue_pid, SIGKILL);
    const int rc = deploy.wait(30s);
    zdd_fault::check_traffic(*traffic);
    const std::string log = zdd_e2e::read_file(err);
    INFO("zdd stderr:\n" << log);
    CHECK(rc == 0);
    CHECK(log.find("blue stopped listening") != std::string::npos);
    CHECK(zdd_fault::count_errors(log) == 0);
    auto s = h.state();
    CHECK(s["active"] == "green");
    CHECK(s["draining"].is_null());
    CHECK(h.phase() == "done");
    CHECK_FALSE(zdd::port_listening(h.blue_port()));
    CHECK(zdd_load::version_through_nginx(h) == "v2");
    stream.wait(5s);  // the victim's stream ends with it

    auto again = zdd_fault::start_traffic(h);
    zdd_fault::check_next_deploy(h, "v3");
    zdd_fault::check_traffic(*again);
}

TEST_CASE("fault: the new instance dies during the drain", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    auto stream = stream_on_blue(h, 8);
    const std::string err = (h.dir() / "deploy.err").string();
    auto deploy = h.zdd_async("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v2"}}, err);
    REQUIRE(h.wait_phase("draining", 30s));
    const int green_pid = h.pid_of("green");
    REQUIRE(zdd_e2e::process_alive(green_pid));

    ::kill(green_pid, SIGKILL);
    const int rc = deploy.wait(30s);
    const std::string log = zdd_e2e::read_file(err);
    INFO("zdd stderr:\n" << log);
    // A clear error, and the old color back in front while it still runs.
    CHECK(rc != 0);
    CHECK(rc != -1);
    CHECK(zdd_fault::count_errors(log) == 1);
    CHECK(log.find("green") != std::string::npos);
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(h.state()["active"] == "blue");
    auto traffic = zdd_fault::start_traffic(h);
    CHECK(h.color_through_nginx() == "blue");
    zdd_fault::check_traffic(*traffic);
    CHECK(stream.wait(15s) == 0);  // blue's stream was never touched

    auto again = zdd_fault::start_traffic(h);
    zdd_fault::check_next_deploy(h, "v3");
    zdd_fault::check_traffic(*again);
}
