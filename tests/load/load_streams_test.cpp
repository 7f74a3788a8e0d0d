// Issue 6, streams across deploys: three waves, 200 streams in all, each wave opened through
// nginx before a deploy and still running after that deploy's cutover (step 4 done). Every
// stream gets every numbered event and `done`; the old instance outlives its wave.
#include <catch2/catch.hpp>
#include <thread>
#include <iostream>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "nginx_tuning.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("load: 200 streams in three waves survive three deploys whole", "[load]") {
    E2eHost h;
    zdd_load::set_worker_connections(h, 1024);
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v0"}}).status == 0);

    constexpr int kWaves[] = {67, 67, 66};
    constexpr int kSeconds = 6, kIntervalMs = 250, kEvents = kSeconds * 1000 / kIntervalMs;
    const char* colors[] = {"blue", "green"};
    int complete = 0;
    for (int w = 0; w < 3; ++w) {
        INFO("wave " << w + 1);
        const std::string old_color = colors[w % 2];
        const uint16_t old_port = w % 2 == 0 ? h.blue_port() : h.green_port();
        const int old_pid = h.pid_of(old_color);
        const std::string out = (h.dir() / ("wave" + std::to_string(w) + ".json")).string();
        zdd_test::Subprocess wave(
            {zdd_demo_test::sse_load_binary(), "--streams", std::to_string(kWaves[w]), "--url",
             "http://127.0.0.1:" + std::to_string(h.nginx_port()) + "/stream/test?duration=" +
                 std::to_string(kSeconds) + "&interval_ms=" + std::to_string(kIntervalMs),
             "--expect-total", std::to_string(kEvents), "--timeout", "60"},
            {}, out);
        REQUIRE(zdd_test::wait_until(
            [&] { return h.deployment_report(old_port).value("activeStreams", 0) == kWaves[w]; },
            10s, 50ms));

        const std::string err = (h.dir() / ("deploy" + std::to_string(w) + ".err")).string();
        auto deploy = h.zdd_async("deploy", {h.demo_app_binary()},
                                  {{"APP_VERSION", "v" + std::to_string(w + 1)}}, err);
        REQUIRE(h.wait_phase("draining", 30s));
        // The cutover is done (the old color left the upstream) and the wave still streams.
        CHECK(wave.running());
        CHECK(h.color_through_nginx() == colors[(w + 1) % 2]);
        bool old_alive_while_streaming = true;
        while (wave.running()) {
            if (!zdd_e2e::process_alive(old_pid)) old_alive_while_streaming = false;
            std::this_thread::sleep_for(50ms);
        }
        const int wave_rc = wave.wait(1s);
        const std::string summary = zdd_e2e::read_file(out);
        INFO("wave summary: " << summary);
        CHECK(wave_rc == 0);
        CHECK(old_alive_while_streaming);
        auto j = nlohmann::json::parse(summary, nullptr, false);
        REQUIRE(j.is_object());
        CHECK(j["complete"] == kWaves[w]);
        complete += j.value("complete", 0);

        const int rc = deploy.wait(30s);
        INFO("zdd stderr:\n" << zdd_e2e::read_file(err));
        REQUIRE(rc == 0);
        CHECK_FALSE(zdd_e2e::process_alive(old_pid));
    }
    std::cout << "load_streams: " << complete << " of 200 streams complete across 3 deploys\n";
    CHECK(complete == 200);
}
