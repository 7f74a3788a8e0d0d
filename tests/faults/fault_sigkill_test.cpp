// zdd killed with SIGKILL in each phase of a deploy, the kill made to land in the phase for
// sure by making that phase slow for real: the new instance's log is a FIFO nobody reads
// (starting: zdd blocks opening it), the new binary sleeps before it listens (health_check),
// nginx -t is slow through an --nginx-bin wrapper (shifting, removing_old), a stream holds the
// old color (draining), the old instance lingers after SIGTERM (stopping). Then `zdd status`
// explains the state, `zdd drain` or `zdd rollback` finishes, and the next deploy works; a curl
// loop through nginx sees no failure from the start to the end.
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <thread>

#include "demo_app_process.hpp"
#include "fault_support.hpp"
#include "nginx_tuning.hpp"
#include "runner/port_owner.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

// Runs `zdd deploy EXTRA...` and SIGKILLs it once state.json shows `phase`.
void kill_in_phase(E2eHost& h, const std::string& phase, const std::vector<std::string>& extra,
                   const std::string& version) {
    const std::string err = (h.dir() / ("killed-in-" + phase + ".err")).string();
    auto deploy = h.zdd_async("deploy", extra, {{"APP_VERSION", version}}, err);
    const bool reached = h.wait_phase(phase, 30s);
    INFO("zdd stderr:\n" << zdd_e2e::read_file(err));
    REQUIRE(reached);
    REQUIRE(deploy.running());
    deploy.signal(SIGKILL);
    REQUIRE(deploy.wait(5s) == 128 + SIGKILL);
}

// `zdd status` (text and JSON) explains an interrupted deploy in `phase`.
nlohmann::json check_status_explains(E2eHost& h, const std::string& phase) {
    auto text = h.zdd("status");
    CHECK(text.status == 0);
    CHECK(text.out.find(phase) != std::string::npos);
    auto st = h.zdd("status", {"--json"});
    REQUIRE(st.status == 0);
    auto j = nlohmann::json::parse(st.out, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["deploy"]["phase"] == phase);
    CHECK(j["deploy"]["interrupted"] == true);
    CHECK_FALSE(j.value("hint", std::string()).empty());
    return j;
}

// nginx's running config, not just the file, no longer sends anything to `port`: blue keeps
// weight 1 of 101 in a stale config, so 150 requests reach it for sure if it is still there.
void check_nginx_forgot(E2eHost& h, uint16_t port) {
    const auto log = h.nginx().dir() / "error.log";
    const auto size_before = zdd_e2e::read_file(log).size();
    for (int i = 0; i < 150; ++i) zdd_load::version_through_nginx(h);
    const std::string fresh = zdd_e2e::read_file(log).substr(size_before);
    INFO("nginx error.log since:\n" << fresh);
    CHECK(fresh.find("127.0.0.1:" + std::to_string(port)) == std::string::npos);
}

}  // namespace

TEST_CASE("fault: zdd SIGKILLed while starting the new instance", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const auto fifo = h.dir() / "state" / "logs" / "green.log";
    REQUIRE(std::filesystem::exists(fifo.parent_path()));
    std::filesystem::remove(fifo);
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);

    auto traffic = zdd_fault::start_traffic(h);
    kill_in_phase(h, "starting", {h.demo_app_binary()}, "v2");
    std::filesystem::remove(fifo);
    check_status_explains(h, "starting");
    CHECK(h.state()["active"] == "blue");
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(h.zdd("drain").status == 0);  // nothing drains: says so
    zdd_fault::check_next_deploy(h, "v3");
    zdd_fault::check_traffic(*traffic);
}

TEST_CASE("fault: zdd SIGKILLed during the health check", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const std::string slow =
        zdd_fault::script(h, "slow-start.sh", "sleep 3\nexec " + h.demo_app_binary() + "\n");

    auto traffic = zdd_fault::start_traffic(h);
    kill_in_phase(h, "health_check", {slow}, "v2");
    check_status_explains(h, "health_check");
    CHECK(h.state()["active"] == "blue");
    CHECK(h.color_through_nginx() == "blue");
    // The half-started green is left over; the next deploy replaces it.
    zdd_fault::check_next_deploy(h, "v3");
    CHECK(h.color_through_nginx() == "green");
    zdd_fault::check_traffic(*traffic);
}

TEST_CASE("fault: zdd SIGKILLed while shifting and while removing the old color", "[fault]") {
    for (const std::string phase : {"shifting", "removing_old"}) {
        INFO("phase " << phase);
        E2eHost h;
        REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
        const int blue_pid = h.pid_of("blue");
        const auto marker = h.dir() / "slow-nginx-t";
        // Each slowed `nginx -t` leaves its pid (the same after exec) in slow_pids.
        const auto slow_pids = h.dir() / "slow-nginx-t.pids";
        const std::string wrapper =
            zdd_fault::script(h, "nginx-wrapper.sh",
                              "for a in \"$@\"; do\n  if [ \"$a\" = -t ] && [ -e " +
                                  marker.string() + " ]; then echo $$ >> " + slow_pids.string() +
                                  "; sleep 2; fi\ndone\n" + "exec nginx \"$@\"\n");
        zdd_test::write_text(marker, "");

        auto traffic = zdd_fault::start_traffic(h);
        kill_in_phase(h, phase, {"--nginx-bin", wrapper, h.demo_app_binary()}, "v2");
        std::filesystem::remove(marker);
        // The orphaned `nginx -t` finishes before the state is read.
        REQUIRE(zdd_test::wait_until(
            [&] {
                std::istringstream pids(zdd_e2e::read_file(slow_pids));
                for (int pid; pids >> pid;)
                    if (zdd_e2e::process_alive(pid)) return false;
                return true;
            },
            30s));
        auto j = check_status_explains(h, phase);
        if (phase == "shifting") {
            // Nothing moved: blue still active and serving.
            CHECK(j["active"] == "blue");
            CHECK(h.color_through_nginx() == "blue");
            CHECK(h.zdd("drain").status == 0);
        } else {
            // Traffic moved to green; blue must be drained and stopped by `zdd drain`.
            CHECK(j["active"] == "green");
            auto d = h.zdd("drain", {"--color", "blue"});
            CHECK(d.status == 0);
            CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
            CHECK(h.state()["draining"].is_null());
            CHECK(h.phase() == "done");
            check_nginx_forgot(h, h.blue_port());
        }
        zdd_fault::check_next_deploy(h, "v3");
        zdd_fault::check_traffic(*traffic);
    }
}

TEST_CASE("fault: zdd SIGKILLed while draining, then rollback", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=8&interval_ms=500",
                                          out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));

    auto traffic = zdd_fault::start_traffic(h);
    kill_in_phase(h, "draining", {h.demo_app_binary()}, "v2");
    auto j = check_status_explains(h, "draining");
    CHECK(j["draining"] == "blue");
    const int green_pid = h.pid_of("green");

    auto r = h.zdd("rollback", {}, {{"APP_VERSION", "v1"}});
    CHECK(r.status == 0);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(h.pid_of("blue") == blue_pid);  // the draining blue was taken back as it was
    CHECK_FALSE(zdd_e2e::process_alive(green_pid));
    CHECK(h.state()["draining"].is_null());
    CHECK(curl.wait(15s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 16) ==
          "");
    zdd_fault::check_next_deploy(h, "v3");
    zdd_fault::check_traffic(*traffic);
}

TEST_CASE("fault: zdd SIGKILLed while stopping the old instance", "[fault]") {
    E2eHost h;
    // Blue lingers 3 s after SIGTERM before its app goes.
    const std::string lingering = zdd_fault::script(
        h, "lingering.sh",
        h.demo_app_binary() +
            " \"$@\" &\nchild=$!\ntrap 'sleep 3; kill -TERM $child 2>/dev/null' TERM\n"
            "wait $child\nwait $child\n");
    REQUIRE(h.zdd("deploy", {lingering}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");

    auto traffic = zdd_fault::start_traffic(h);
    kill_in_phase(h, "stopping", {h.demo_app_binary()}, "v2");
    auto j = check_status_explains(h, "stopping");
    CHECK(j["active"] == "green");
    auto d = h.zdd("drain", {"--color", "blue"});
    CHECK(d.status == 0);
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
    CHECK_FALSE(zdd::port_listening(h.blue_port()));
    CHECK(h.state()["draining"].is_null());
    CHECK(h.phase() == "done");
    zdd_fault::check_next_deploy(h, "v3");
    zdd_fault::check_traffic(*traffic);
}
