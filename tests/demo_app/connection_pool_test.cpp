// connection_pool: one thread per connection up to capacity, refusal beyond it (unit), and the
// app answering 503 at once, never queueing, when every connection slot is taken (HTTP).
#include "connection_pool.hpp"

#include <atomic>
#include <future>

#include <signal.h>

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"

using namespace std::chrono_literals;
using zdd_demo::ConnectionPool;
using zdd_demo_test::DemoApp;
using zdd_demo_test::http_get;

TEST_CASE("ConnectionPool runs jobs on their own threads up to capacity, refuses beyond",
          "[pool]") {
    ConnectionPool pool(2);
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<int> started{0};
    std::atomic<int> refused{0};
    auto job = [&] {
        if (ConnectionPool::refusing()) {
            ++refused;
            return;
        }
        ++started;
        released.wait();
    };
    pool.enqueue(job);
    pool.enqueue(job);
    REQUIRE(zdd_test::wait_until([&] { return started == 2; }, 5000ms));
    CHECK(pool.active() == 2);
    // The third runs inline, flagged, while both slots are taken: it is never queued.
    pool.enqueue(job);
    CHECK(refused == 1);
    CHECK_FALSE(ConnectionPool::refusing());
    release.set_value();
    pool.shutdown();  // waits for both threads
    CHECK(pool.active() == 0);
    pool.enqueue(job);  // room again
    pool.shutdown();
    CHECK(started == 3);
    CHECK(refused == 1);
}

TEST_CASE("beyond --max-connections the app answers 503 at once (health aside)", "[pool][http]") {
    DemoApp::Options opts;
    opts.args = {"--max-connections", "3"};
    DemoApp app(opts);
    const auto out = zdd_demo_test::temp_path("stream");
    std::vector<zdd_test::Subprocess> clients;
    for (int i = 0; i < 2; ++i) {
        clients.push_back(zdd_demo_test::curl_child(
            app.url("/stream/test?duration=20&interval_ms=200"), out + std::to_string(i)));
        REQUIRE(app.wait_report([&](auto& r) { return r["activeStreams"] == i + 1; }, 5000ms));
    }
    // The third stream takes the last slot: from then on everything but the health endpoints
    // is refused at once.
    clients.push_back(
        zdd_demo_test::curl_child(app.url("/stream/test?duration=20&interval_ms=200"), out + "2"));
    zdd_demo_test::HttpResult refused;
    REQUIRE(zdd_test::wait_until(
        [&] {
            // A silently queued connection would hang here until the 2 s timeout (status 0).
            refused = http_get(app.url("/"), {}, 2000);
            return refused.status != 200;
        },
        5000ms, 50ms));
    CHECK(refused.status == 503);
    CHECK(refused.body == "at capacity\n");
    CHECK(app.log().find("at capacity") != std::string::npos);
    // /health is served past capacity too (overflow_lane_test covers the flood).
    CHECK(http_get(app.url("/health"), {}, 2000).status == 200);

    // Freeing a slot makes the app answer again. (A finished request holds its slot until its
    // thread has closed the socket, a moment after the client has the answer: hence polling.)
    clients.back().signal(SIGKILL);
    clients.back().wait(2000ms);
    CHECK(zdd_test::wait_until([&] { return http_get(app.url("/"), {}, 2000).status == 200; },
                               5000ms, 50ms));
    auto report = http_get(app.url("/health/deployment"),
                           {std::string("Authorization: Bearer ") + DemoApp::kToken});
    REQUIRE(report.status == 200);
    CHECK(nlohmann::json::parse(report.body).at("activeStreams") == 2);
}
