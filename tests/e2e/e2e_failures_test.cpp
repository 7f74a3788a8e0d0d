// Failures before traffic moves leave nginx and the old instance as they were, stop the new
// instance, print one clear line and exit with the failure's own code.
#include <catch2/catch.hpp>
#include <thread>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "runner/port_owner.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

int count_errors(const std::string& err) {
    int n = 0;
    for (size_t at = err.find("[ERROR]"); at != std::string::npos; at = err.find("[ERROR]", at + 1))
        ++n;
    return n;
}

// What must hold after any failure before traffic moved.
void check_untouched(E2eHost& h, const std::string& upstream_before, int blue_pid) {
    CHECK(zdd_e2e::read_file(h.upstream_file()) == upstream_before);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(h.pid_of("blue") == blue_pid);
    CHECK_FALSE(zdd::port_listening(h.green_port()));
    CHECK_FALSE(zdd_e2e::process_alive(h.pid_of("green")));
    auto s = h.state();
    CHECK(s["active"] == "blue");
    CHECK_FALSE(s["last_error"].get<std::string>().empty());
}

}  // namespace

TEST_CASE("e2e deploy of a binary that never gets healthy", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(h.upstream_file());
    zdd_test::write_text(h.dir() / "mute.sh", "#!/bin/sh\nexec sleep 60\n", 0755);
    auto r = h.zdd("deploy", {"--health-timeout", "2", (h.dir() / "mute.sh").string()});
    CHECK(r.status == 9);
    CHECK(count_errors(r.err) == 1);
    CHECK(r.err.find("health check") != std::string::npos);
    check_untouched(h, before, blue_pid);

    // A binary that exits at once is a start failure (8).
    zdd_test::write_text(h.dir() / "dies.sh", "#!/bin/sh\nexit 3\n", 0755);
    auto d = h.zdd("deploy", {(h.dir() / "dies.sh").string()});
    CHECK(d.status == 8);
    check_untouched(h, before, blue_pid);
    // A missing binary is refused before anything starts (7).
    CHECK(h.zdd("deploy", {(h.dir() / "nope").string()}).status == 7);
}

TEST_CASE("e2e nginx -t failure restores the upstream and stops the new instance", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(h.upstream_file());
    const std::string extra = zdd_e2e::read_file(h.nginx().extra_file());
    zdd_test::write_text(h.nginx().extra_file(), extra + "bogus_directive on;\n");
    auto r = h.zdd("deploy", {h.demo_app_binary()});
    CHECK(r.status == 10);
    CHECK(count_errors(r.err) == 1);
    CHECK(r.err.find("nginx -t failed") != std::string::npos);
    check_untouched(h, before, blue_pid);
}

TEST_CASE("e2e a reload that does not take (listen on a busy port) is caught", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(h.upstream_file());
    auto busy = zdd_test::tcp_listen("127.0.0.1", 0);
    const uint16_t busy_port = zdd_test::local_port(busy.get());
    const std::string extra = zdd_e2e::read_file(h.nginx().extra_file());
    zdd_test::write_text(
        h.nginx().extra_file(),
        extra + "server { listen 127.0.0.1:" + std::to_string(busy_port) + "; return 204; }\n");
    auto r = h.zdd("deploy", {h.demo_app_binary()});
    CHECK(r.status == 11);
    CHECK(count_errors(r.err) == 1);
    check_untouched(h, before, blue_pid);
}

TEST_CASE("e2e a second concurrent deploy is refused", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=6&interval_ms=500",
                                          out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));
    const std::string err = (h.dir() / "first.err").string();
    auto first = h.zdd_async("deploy", {h.demo_app_binary()}, {}, err);
    REQUIRE(h.wait_phase("draining", 30s));
    auto second = h.zdd("deploy", {h.demo_app_binary()});
    CHECK(second.status == 4);
    CHECK(second.err.find("holds the deploy lock") != std::string::npos);
    CHECK(first.wait(30s) == 0);
    CHECK(curl.wait(10s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 12) ==
          "");
}
