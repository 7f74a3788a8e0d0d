// 2,000 concurrent streams on one app: the report reads 2,000 at one moment and every stream
// completes with every event. Clients are 4 processes of 500 streams each (libcurl multi), so
// no process comes near the 20,000 open-file limit. Loopback only; bounded (about 30 s).
#include <algorithm>

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"

using namespace std::chrono_literals;
using zdd_demo_test::DemoApp;

TEST_CASE("2,000 concurrent streams all complete with every event", "[scale]") {
    constexpr int kClients = 4;
    constexpr int kPerClient = 500;
    constexpr int kStreams = kClients * kPerClient;
    constexpr int kDurationS = 20;
    constexpr int kIntervalMs = 500;
    constexpr int kEvents = kDurationS * 1000 / kIntervalMs;

    DemoApp::Options opts;
    opts.env["SPDLOG_LEVEL"] = "warn";  // no per-stream lines
    DemoApp app(opts);
    const std::string url = app.url("/stream/test?duration=" + std::to_string(kDurationS) +
                                    "&interval_ms=" + std::to_string(kIntervalMs));
    const auto out = zdd_demo_test::temp_path("scale");
    std::vector<zdd_test::Subprocess> clients;
    for (int i = 0; i < kClients; ++i)
        clients.emplace_back(
            std::vector<std::string>{zdd_demo_test::sse_load_binary(), "--url", url, "--streams",
                                     std::to_string(kPerClient), "--expect-total",
                                     std::to_string(kEvents), "--timeout", "60"},
            std::map<std::string, std::string>{}, out + std::to_string(i));

    int peak = 0;
    const bool all_at_once = app.wait_report(
        [&](auto& r) {
            peak = std::max(peak, r["activeStreams"].template get<int>());
            return r["activeStreams"] == kStreams;
        },
        15000ms);
    INFO("peak activeStreams " << peak);
    CHECK(all_at_once);

    for (int i = 0; i < kClients; ++i) {
        INFO("client " << i << ": " << zdd_demo_test::read_file(out + std::to_string(i)));
        CHECK(clients[i].wait(60000ms) == 0);
        auto summary = nlohmann::json::parse(zdd_demo_test::read_file(out + std::to_string(i)));
        CHECK(summary["complete"] == kPerClient);
    }
    CHECK(app.wait_report([](auto& r) { return r["activeStreams"] == 0; }, 5000ms));
    CHECK(app.log().find("refused") == std::string::npos);
}
