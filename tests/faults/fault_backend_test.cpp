// BPF unavailable: `--backend sock_diag`, and BPF denied to zdd by capsh dropping cap_bpf,
// cap_sys_admin and cap_perfmon from its bounding set (dropping cap_bpf alone still lets root
// load). Either way the deploy still drains correctly through sock_diag (a stream through
// nginx ends whole before the old instance stops) and says which monitor it used.
#include <catch2/catch.hpp>
#include <thread>

#include "demo_app_process.hpp"
#include "fault_support.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

// A deploy (run by `how`) with a 6 s stream open on blue: returns zdd's stderr.
std::string deploy_with_stream(E2eHost& h, const std::vector<std::string>& extra,
                               const zdd_fault::Invocation& how) {
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=6&interval_ms=500",
                                          out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));
    auto traffic = zdd_fault::start_traffic(h);
    auto r = zdd_fault::run_zdd(h, "deploy", extra, how);
    CHECK(r.status == 0);
    // zdd returned only after the stream's end: the stream is complete and blue is gone.
    CHECK_FALSE(curl.running());
    CHECK(curl.wait(1s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 12) ==
          "");
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
    CHECK(h.color_through_nginx() == "green");
    CHECK(r.err.find("Streams: 1") != std::string::npos);
    zdd_fault::check_traffic(*traffic);
    return r.err;
}

}  // namespace

TEST_CASE("fault: --backend sock_diag drains correctly", "[fault]") {
    E2eHost h;
    const std::string err = deploy_with_stream(h, {"--backend", "sock_diag", h.demo_app_binary()},
                                               {{}, {}, {{"APP_VERSION", "v2"}}});
    INFO(err);
    CHECK(err.find("sock_diag monitor") != std::string::npos);
}

TEST_CASE("fault: BPF denied by capsh, the deploy falls back to sock_diag", "[fault]") {
    E2eHost h;
    const std::string err = deploy_with_stream(
        h, {h.demo_app_binary()},
        {{},
         {"capsh", "--drop=cap_bpf,cap_sys_admin,cap_perfmon", "--shell=" + h.zdd_binary(), "--"},
         {{"APP_VERSION", "v2"}}});
    INFO(err);
    CHECK(err.find("BPF unavailable") != std::string::npos);
    CHECK(err.find("using sock_diag") != std::string::npos);
    CHECK(err.find("sock_diag monitor") != std::string::npos);
    CHECK(zdd_fault::count_errors(err) == 0);
}
