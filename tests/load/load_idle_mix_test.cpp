// Issue 6: idle keepalive clients and active streams on the old color. The app reports the
// streams; the kernel sees the keepalives idle; per the drain gate (idle blocks only without an
// app report) the drain ends when the last stream ends, not when the keepalives would time out
// (the old instance keeps idle keepalives for 120 s here; zdd is given 90 s).
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <thread>
#include <iostream>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

// A connection that made one request, got its answer, and now sits idle.
zdd_test::UniqueFd idle_keepalive(uint16_t port) {
    auto fd = zdd_test::tcp_connect("127.0.0.1", port);
    const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(req.size()));
    char buf[4096];
    REQUIRE(::recv(fd.get(), buf, sizeof buf, 0) > 0);
    // The answer may come in more than one segment: read it all, so what is left to read
    // later can only be an EOF or an error.
    pollfd p{fd.get(), POLLIN, 0};
    while (::poll(&p, 1, 300) == 1 && ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    return fd;
}

// Still open: no EOF or error pending (the answer was read in full).
bool open(int fd) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

TEST_CASE("load: the drain ends with the last stream, not with idle keepalives", "[load]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary(), "--", "--keep-alive-timeout", "120"},
                  {{"APP_VERSION", "v1"}})
                .status == 0);
    const int blue_pid = h.pid_of("blue");

    constexpr int kIdle = 6;
    std::vector<zdd_test::UniqueFd> idle;
    for (int i = 0; i < kIdle; ++i) idle.push_back(idle_keepalive(h.blue_port()));
    std::vector<zdd_test::Subprocess> streams;
    // The longest stream (10 s) ends no sooner than this: until then blue must keep serving.
    const auto last_stream_due = std::chrono::steady_clock::now() + 10s;
    for (int i = 0; i < 2; ++i)
        streams.push_back(zdd_demo_test::curl_child(
            "http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                "/stream/test?duration=" + std::to_string(8 + 2 * i) + "&interval_ms=500",
            (h.dir() / ("stream" + std::to_string(i) + ".txt")).string()));
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 2; }, 5s));

    const std::string err = (h.dir() / "deploy.err").string();
    auto deploy =
        h.zdd_async("deploy", {h.demo_app_binary(), "--idle-after", "1", "--app-poll", "0.5"},
                    {{"APP_VERSION", "v2"}}, err);
    REQUIRE(h.wait_phase("draining", 30s));
    // While any stream runs: blue lives, and the keepalives stay open (the drain has them).
    bool blue_alive_while_streaming = true;
    int open_while_streaming = kIdle;
    int samples = 0;  // the checks below mean something only if they were sampled
    for (size_t i = 0; i < streams.size(); ++i)
        while (streams[i].running()) {
            // Sampled until 1.5 s before the last stream is due: afterwards zdd may rightly stop
            // blue (closing the keepalives) before curl has flushed the stream's `done`.
            if (std::chrono::steady_clock::now() < last_stream_due - 1500ms) {
                ++samples;
                if (!zdd_e2e::process_alive(blue_pid)) blue_alive_while_streaming = false;
                int n = 0;
                for (auto& fd : idle) n += open(fd.get());
                open_while_streaming = std::min(open_while_streaming, n);
            }
            std::this_thread::sleep_for(50ms);
        }
    const auto last_stream_end = std::chrono::steady_clock::now();

    // Bounded well below the keepalives' 120 s: a drain that waited for them cannot finish.
    const int rc = deploy.wait(90s);
    const auto drain_end = std::chrono::steady_clock::now();
    const std::string log = zdd_e2e::read_file(err);
    INFO("zdd stderr:\n" << log);
    REQUIRE(rc == 0);
    // Sampled at 50 ms steps from the drain's start until 1.5 s before the last stream's end.
    INFO(samples << " samples while streaming");
    REQUIRE(samples >= 10);
    CHECK(blue_alive_while_streaming);
    CHECK(open_while_streaming == kIdle);
    for (int i = 0; i < 2; ++i)
        CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(
                                           h.dir() / ("stream" + std::to_string(i) + ".txt"))),
                                       "done", (8 + 2 * i) * 2) == "");
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
    // The gate saw the idle keepalives and did not wait for them.
    CHECK(log.find("Idle: " + std::to_string(kIdle)) != std::string::npos);
    const double after_s = std::chrono::duration<double>(drain_end - last_stream_end).count();
    // Printed, not asserted (timing is for scripts/bench): the bound on deploy.wait() above is
    // what proves the drain did not wait for the keepalives.
    std::cout << "load_idle_mix: old instance stopped " << after_s
              << " s after the last stream ended (idle keepalives would hold 120 s)\n";
}
