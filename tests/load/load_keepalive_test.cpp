// Issue 6, load with keepalive clients: nginx's own reload closes idle client keepalive
// connections, which races with a client's next request, so plain `nginx -s reload`s under wrk
// show read errors with no zdd at all. A reload can cost each client connection at most one
// such error, so a deploy (two reloads: steps 3 and 4) under wrk with C connections has a fixed
// budget of 2*C read errors and no non-2xx answer at all; errors of zdd's own (a killed
// upstream, a dropped request) come on top and break it. The same plain reloads are measured
// against the same budget (the budget's premise) and both figures are printed; comparing the
// two counts is a benchmark's job, not a test's.
#include <catch2/catch.hpp>
#include <thread>
#include <iostream>

#include "e2e_host.hpp"
#include "nginx/nginx_control.hpp"
#include "nginx_tuning.hpp"
#include "wrk_load.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

constexpr int kDeploys = 5;
constexpr int kReloadsPerDeploy = 2;
constexpr int kConnections = 16;
constexpr long kBudget = kDeploys * kReloadsPerDeploy * kConnections;

zdd_load::WrkLoad keepalive_wrk(E2eHost& h, const std::string& name) {
    zdd_load::WrkLoad wrk("http://127.0.0.1:" + std::to_string(h.nginx_port()) + "/health", 1,
                          kConnections, 240s, {}, (h.dir() / name).string());
    // Every connection is open before the first reload.
    REQUIRE(zdd_test::wait_until(
        [&] { return zdd_test::ss_established(h.nginx_port()) >= kConnections; }, 30s));
    return wrk;
}

}  // namespace

TEST_CASE(
    "load: keepalive wrk across zdd deploys: no non-2xx, errors within one per connection per "
    "reload",
    "[load]") {
    E2eHost h;
    zdd_load::set_worker_connections(h, 1024);
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v0"}}).status == 0);

    // Plain reloads, no zdd: the baseline, paced like deploys.
    zdd_load::WrkSummary plain;
    {
        auto wrk = keepalive_wrk(h, "wrk-plain.txt");
        zdd::Nginx nginx(h.nginx().options());
        // In pairs, as a deploy reloads (step 3, a probe, step 4), paced like deploys.
        for (int i = 0; i < kDeploys; ++i) {
            nginx.reload();  // waits for the new workers
            std::this_thread::sleep_for(100ms);
            nginx.reload();
            std::this_thread::sleep_for(1500ms);
        }
        REQUIRE(wrk.running());
        plain = wrk.stop();
        INFO(zdd_e2e::read_file(wrk.output_path()));
        REQUIRE(plain.requests > 0);
    }

    zdd_load::WrkSummary deploys;
    {
        auto wrk = keepalive_wrk(h, "wrk-zdd.txt");
        for (int i = 1; i <= kDeploys; ++i) {
            const std::string version = "v" + std::to_string(i);
            REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", version}}).status == 0);
            CHECK(zdd_load::version_through_nginx(h) == version);
        }
        REQUIRE(wrk.running());
        deploys = wrk.stop();
        INFO(zdd_e2e::read_file(wrk.output_path()));
        REQUIRE(deploys.requests > 0);
    }

    std::cout << "load_keepalive: plain nginx reloads (" << kDeploys * kReloadsPerDeploy
              << "): " << plain.requests << " requests, " << plain.errors() << " errors ("
              << plain.read_errors << " read, " << plain.non_2xx << " non-2xx); zdd deploys ("
              << kDeploys << ", " << kDeploys * kReloadsPerDeploy
              << " reloads): " << deploys.requests << " requests, " << deploys.errors()
              << " errors (" << deploys.read_errors << " read, " << deploys.non_2xx
              << " non-2xx)\n";
    CHECK(plain.non_2xx == 0);
    CHECK(plain.errors() <= kBudget);
    CHECK(deploys.non_2xx == 0);
    CHECK(deploys.errors() <= kBudget);
}
