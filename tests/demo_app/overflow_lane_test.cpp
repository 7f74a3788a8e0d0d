// Past --max-connections the health endpoints keep answering (the overflow lane), so the drain
// gate keeps its app report when the app is flooded; everything else gets 503. No other
// listener can share the port and take those requests.
#include "overflow_lane.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using zdd_demo::OverflowLane;
using zdd_demo::RequestHead;
using zdd_demo_test::DemoApp;
using zdd_demo_test::http_get;

namespace {

// Room for the flood's client ends in this process.
void raise_fd_limit(rlim_t want) {
    rlimit lim{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    if (lim.rlim_cur >= want) return;
    REQUIRE(lim.rlim_max >= want);
    lim.rlim_cur = want;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lim) == 0);
}

// Sends a /work request that keeps its connection slot busy for `ms`.
drainmon::UniqueFd busy_slot(uint16_t port, int ms) {
    auto fd = zdd_test::tcp_connect("127.0.0.1", port);
    const std::string req =
        "GET /work?ms=" + std::to_string(ms) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    REQUIRE(::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(req.size()));
    return fd;
}

}  // namespace

TEST_CASE("the overflow lane reads a request head", "[overflow]") {
    RequestHead h;
    REQUIRE(OverflowLane::parse_head(
        "GET /health/deployment?x=1 HTTP/1.1\r\nHost: a\r\nauthorization:  Bearer t0k\r\n", h));
    CHECK(h.method == "GET");
    CHECK(h.target == "/health/deployment?x=1");
    CHECK(h.authorization == "Bearer t0k");
    REQUIRE(OverflowLane::parse_head("POST / HTTP/1.1\r\n", h));
    CHECK(h.method == "POST");
    CHECK(h.authorization.empty());
    CHECK_FALSE(OverflowLane::parse_head("GET\r\n", h));
    CHECK_FALSE(OverflowLane::parse_head("no line end", h));
}

TEST_CASE("flooded past --max-connections, the health endpoints still answer", "[overflow][http]") {
    constexpr int kSlots = 20;
    constexpr int kFlood = 2000;
    raise_fd_limit(kSlots + kFlood + 256);
    DemoApp::Options opts;
    opts.args = {"--max-connections", std::to_string(kSlots)};
    DemoApp app(opts);

    // Every slot busy for a minute with a request in progress. A slot can still be held for a
    // moment by a connection that just closed (the start-up probe's); a busy request that meets
    // it is refused (answered 503 at once, so its socket turns readable): replace it and retry.
    std::vector<drainmon::UniqueFd> busy;
    const std::string auth = std::string("Authorization: Bearer ") + DemoApp::kToken;
    zdd_demo_test::HttpResult report;
    const bool filled = zdd_test::wait_until(
        [&] {
            std::erase_if(busy, [](const drainmon::UniqueFd& fd) {
                pollfd p{fd.get(), POLLIN, 0};
                return ::poll(&p, 1, 0) > 0;
            });
            while (busy.size() < kSlots) busy.push_back(busy_slot(app.port(), 60000));
            report = http_get(app.url("/health/deployment"), {auth}, 5000);
            return report.status == 200 &&
                   nlohmann::json::parse(report.body).at("activeRequests") == kSlots;
        },
        10000ms, 50ms);
    INFO("last report: " << report.status << " " << report.body);
    REQUIRE(filled);

    // ...then 2,000 idle connections past the limit that never send a byte.
    std::vector<drainmon::UniqueFd> flood;
    for (int i = 0; i < kFlood; ++i)
        flood.push_back(zdd_test::tcp_connect("127.0.0.1", app.port()));

    // The report still answers, and says what the app does; the bound is generous on purpose.
    report = http_get(app.url("/health/deployment"), {auth}, 5000);
    REQUIRE(report.status == 200);
    auto body = nlohmann::json::parse(report.body);
    CHECK(body.at("activeRequests") == kSlots);
    CHECK(body.at("status") == "ok");  // serving
    CHECK(http_get(app.url("/health"), {}, 5000).status == 200);
    CHECK(http_get(app.url("/health/deployment"), {"Authorization: Bearer wrong"}, 5000).status ==
          401);

    // Anything else past the limit is refused at once, as before.
    auto other = http_get(app.url("/"), {}, 5000);
    CHECK(other.status == 503);
    CHECK(other.body == "at capacity\n");

    // The flood's connections are answered 503 and closed (oldest first, or after 2 s).
    char buf[256];
    ssize_t n = ::recv(flood.front().get(), buf, sizeof buf - 1, 0);
    REQUIRE(n > 0);
    buf[n] = '\0';
    CHECK(std::string(buf).rfind("HTTP/1.1 503", 0) == 0);
    CHECK(app.log().find("at capacity") != std::string::npos);
}

TEST_CASE("no other listener can share the app's port, so none takes its health polls",
          "[overflow][http]") {
    DemoApp app;
    // cpp-httplib's default (SO_REUSEPORT) let a second same-user listener in, and the kernel
    // handed it a share of new connections: most of zdd's /health/deployment polls went to a
    // process that never answers (the scale benchmark's farm did so).
    std::string refused;
    drainmon::UniqueFd thief;  // held through the polls below, should the bind succeed
    try {
        thief = zdd_test::tcp_listen("127.0.0.1", app.port(), 16, /*reuseport=*/true);
    } catch (const std::exception& e) {
        refused = e.what();
    }
    CHECK(refused.find("Address already in use") != std::string::npos);
    for (int i = 0; i < 10; ++i)
        CHECK(http_get(app.url("/health/deployment"),
                       {std::string("Authorization: Bearer ") + DemoApp::kToken}, 2000)
                  .status == 200);
}
