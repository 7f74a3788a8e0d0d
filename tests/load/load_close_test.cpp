// Issue 6, load: wrk through nginx with `Connection: close` during 10 back-to-back deploys.
// Zero socket errors, zero non-2xx; each deploy changes the served version and the old
// instance exits while wrk still runs.
#include <catch2/catch.hpp>
#include <iostream>

#include "e2e_host.hpp"
#include "nginx_tuning.hpp"
#include "wrk_load.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("load: 10 deploys under wrk with Connection: close lose no request", "[load]") {
    E2eHost h;
    zdd_load::set_worker_connections(h, 1024);
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v0"}}).status == 0);
    REQUIRE(zdd_load::version_through_nginx(h) == "v0");

    zdd_load::WrkLoad wrk("http://127.0.0.1:" + std::to_string(h.nginx_port()) + "/health", 1, 8,
                          240s, {"Connection: close"}, (h.dir() / "wrk.txt").string());
    // wrk is busy before the first deploy: nginx closed some of its connections already
    // (`Connection: close` leaves nginx's side in TIME_WAIT).
    REQUIRE(zdd_test::wait_until(
        [&] { return zdd_test::ss_count("time-wait", h.nginx_port()) >= 8; }, 30s));
    const char* colors[] = {"blue", "green"};
    for (int i = 1; i <= 10; ++i) {
        const std::string version = "v" + std::to_string(i);
        const std::string old_color = colors[(i - 1) % 2];
        const int old_pid = h.pid_of(old_color);
        REQUIRE(zdd_e2e::process_alive(old_pid));
        auto r = h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", version}});
        INFO("deploy " << i);
        REQUIRE(r.status == 0);
        CHECK(zdd_load::version_through_nginx(h) == version);
        CHECK_FALSE(zdd_e2e::process_alive(old_pid));
        REQUIRE(wrk.running());
    }
    auto s = wrk.stop();
    INFO(zdd_e2e::read_file(wrk.output_path()));
    std::cout << "load_close: " << s.requests << " requests through 10 deploys, "
              << s.socket_errors() << " socket errors, " << s.non_2xx << " non-2xx\n";
    REQUIRE(s.requests > 0);
    CHECK(s.socket_errors() == 0);
    CHECK(s.non_2xx == 0);
}
