// zdd deploy --handoff (issue 12) through a real nginx with the real demo app: resuming SSE
// clients (the demo app's resuming client tool: reconnects with Last-Event-ID as EventSource
// does, checks every id exactly once, in order, then `done`) across back-to-back deploys; the
// same without --handoff; an app without the endpoint (404); a plain curl that does not resume.
// Assertions are structural (what the clients received, exit codes, what the lines say, the
// deploys ending while the streams still run), never wall-clock thresholds.
#include <catch2/catch.hpp>
#include <regex>
#include <sstream>

#include "e2e_host.hpp"
#include "e2e_streams.hpp"
#include "nginx_tuning.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

// Lines of `text` that contain `what`.
int lines_with(const std::string& text, const std::string& what) {
    std::istringstream in(text);
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(what) != std::string::npos;
    return n;
}

std::string stream_url(const E2eHost& h, int seconds, int interval_ms) {
    return "http://127.0.0.1:" + std::to_string(h.nginx_port()) +
           "/stream/test?duration=" + std::to_string(seconds) +
           "&interval_ms=" + std::to_string(interval_ms);
}

// N resuming clients (tests/demo_app's zdd-demo-sse-resume) in one process; a stream that ends
// without `done` or `event: handoff` fails the run (--fail-on-cut). Its JSON summary goes to
// `out`.
zdd_test::Subprocess resuming_clients(const E2eHost& h, int clients, int seconds, int interval_ms,
                                      const std::string& out) {
    return zdd_test::Subprocess(
        {zdd_test::build_dir() + "/tests/demo_app/zdd-demo-sse-resume", "--url",
         stream_url(h, seconds, interval_ms), "--clients", std::to_string(clients), "--deadline-s",
         std::to_string(seconds + 90), "--expect-total",
         std::to_string(seconds * 1000 / interval_ms), "--fail-on-cut"},
        {}, out, out + ".err");
}

int active_streams(const E2eHost& h, uint16_t port) {
    return h.deployment_report(port).value("activeStreams", -1);
}

uint16_t port_of(const E2eHost& h, const std::string& color) {
    return color == "blue" ? h.blue_port() : h.green_port();
}

// The resuming client tool's summary: every client got every id once, in order, then done;
// `handoffs` streams of all clients ended with the handoff event.
void check_summary(const std::string& out, int clients, int handoffs) {
    auto j = nlohmann::json::parse(out, nullptr, false);
    INFO(out);
    REQUIRE(j.is_object());
    CHECK(j.value("clients", -1) == clients);
    CHECK(j.value("complete", -1) == clients);
    CHECK(j.value("duplicates", -1) == 0);
    CHECK(j.value("gaps", -1) == 0);
    CHECK(j.value("cuts", -1) == 0);
    CHECK(j.value("http_errors", -1) == 0);
    CHECK(j.value("handoffs", -1) == handoffs);
}

}  // namespace

TEST_CASE("e2e --handoff: 200 resuming clients across 3 back-to-back deploys lose nothing",
          "[e2e][handoff]") {
    constexpr int kClients = 200;
    E2eHost h;
    zdd_load::set_worker_connections(h, 1024);  // 2 connections per client through nginx
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);  // blue serves
    const std::string out = (h.dir() / "clients.json").string();
    auto clients = resuming_clients(h, kClients, 30, 500, out);
    std::string serving = "blue";
    for (int i = 0; i < 3; ++i) {
        INFO("deploy " << i + 1 << " away from " << serving);
        // Every client is on the serving color (after the previous deploy, back from its
        // reconnect): the handoff has all of them to hand over.
        REQUIRE(zdd_test::wait_until(
            [&] { return active_streams(h, port_of(h, serving)) == kClients; }, 20s, 50ms));
        const int old_pid = h.pid_of(serving);
        auto r = h.zdd("deploy", {"--handoff", h.demo_app_binary()}, {}, 60s);
        REQUIRE(r.status == 0);
        CHECK(lines_with(r.err, "[INFO] handoff: ") == 1);
        CHECK(r.err.find("accepted, " + std::to_string(kClients) + " streams to hand over") !=
              std::string::npos);
        CHECK(r.err.find("Handed off: ") != std::string::npos);
        CHECK(r.err.find(" drained after ") != std::string::npos);
        CHECK(r.err.find(std::to_string(kClients) + " streams handed off") != std::string::npos);
        CHECK(r.err.find("drain timeout") == std::string::npos);
        CHECK(r.err.find("cut:") == std::string::npos);
        CHECK_FALSE(zdd_e2e::process_alive(old_pid));  // stopped by SIGTERM, nothing cut
        // Structural: the drain did not wait for the streams, which are still running.
        CHECK(clients.running());
        serving = serving == "blue" ? "green" : "blue";
        CHECK(h.color_through_nginx() == serving);
    }
    REQUIRE(clients.wait(60s) == 0);
    check_summary(zdd_e2e::read_file(out), kClients, 3 * kClients);
}

TEST_CASE("e2e without --handoff: the drain waits for the streams, nothing cut", "[e2e][handoff]") {
    constexpr int kClients = 5;
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const std::string out = (h.dir() / "clients.json").string();
    auto clients = resuming_clients(h, kClients, 4, 500, out);
    REQUIRE(zdd_test::wait_until([&] { return active_streams(h, h.blue_port()) == kClients; }, 20s,
                                 50ms));
    auto r = h.zdd("deploy", {h.demo_app_binary()}, {}, 60s);
    CHECK(r.status == 0);
    CHECK(r.err.find("] handoff") == std::string::npos);  // (paths may say handoff)
    CHECK(r.err.find("Handed off") == std::string::npos);
    CHECK(r.err.find(" drained after ") != std::string::npos);
    // The drain ended only once blue's streams had: the clients are done or about to be.
    REQUIRE(clients.wait(20s) == 0);
    check_summary(zdd_e2e::read_file(out), kClients, 0);
    CHECK(nlohmann::json::parse(zdd_e2e::read_file(out)).value("reconnects", -1) == 0);
}

TEST_CASE("e2e --handoff to an app without the endpoint: one line, a normal drain",
          "[e2e][handoff]") {
    E2eHost h;
    // --no-handoff: the demo app leaves POST /health/deployment/handoff out (404).
    REQUIRE(h.zdd("deploy", {h.demo_app_binary(), "--", "--no-handoff"}).status == 0);
    const std::string out = (h.dir() / "curl.out").string();
    auto curl = zdd_e2e::open_blue_stream(h, out, 3);
    auto r = h.zdd("deploy", {"--handoff", h.demo_app_binary()}, {}, 60s);
    CHECK(r.status == 0);
    CHECK(lines_with(r.err, "] handoff") == 1);
    CHECK(std::regex_search(r.err, std::regex(R"(\[WARN\] handoff not supported \(404\) by )"
                                              R"(http://127\.0\.0\.1:\d+/health/deployment/)"
                                              R"(handoff; draining without it\n)")));
    CHECK(r.err.find(" drained after ") != std::string::npos);
    // The drain waited for the stream, which ran to its end.
    REQUIRE(curl.wait(10s) == 0);
    const std::string body = zdd_e2e::read_file(out);
    CHECK(body.find("event: done") != std::string::npos);
    CHECK(body.find("event: handoff") == std::string::npos);
}

TEST_CASE("e2e --handoff with a plain curl: its stream ends cleanly with the handoff event",
          "[e2e][handoff]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const std::string out = (h.dir() / "curl.out").string();
    auto curl = zdd_e2e::open_blue_stream(h, out, 30);
    auto r = h.zdd("deploy", {"--handoff", h.demo_app_binary()}, {}, 60s);
    CHECK(r.status == 0);
    CHECK(r.err.find("accepted, 1 stream to hand over") != std::string::npos);
    CHECK(r.err.find("1 stream handed off") != std::string::npos);
    // Documented: the response ends at a message boundary (curl exits 0, not "transfer closed
    // with outstanding data"), with the handoff event; a client that does not resume stays
    // away. The drain ended on it, long before the 30 s stream would have.
    REQUIRE(curl.wait(10s) == 0);
    const std::string body = zdd_e2e::read_file(out);
    CHECK(std::regex_search(body, std::regex("retry: \\d+\nevent: handoff\n")));
    CHECK(body.find("event: done") == std::string::npos);
    CHECK(body.find("event: cancelled") == std::string::npos);
}
