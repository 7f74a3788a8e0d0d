// --metrics-textfile (issue 11.4): the phase, the drain's figures, what a timeout cut, the last
// exit code and the nginx workers left shutting down, in a file the real promtool accepts;
// `zdd status` shows those workers and `zdd doctor` notes when they pile up.
#include <catch2/catch.hpp>
#include <sstream>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "nginx/nginx_control.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

// The value of the first sample of `name` whose labels contain `labels` (-1 when absent).
double sample(const std::string& text, const std::string& name, const std::string& labels = "") {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + "{", 0) != 0 || line.find(labels) == std::string::npos) continue;
        return std::stod(line.substr(line.rfind(' ') + 1));
    }
    return -1;
}

void check_promtool(const std::string& path) {
    int status = -1;
    const std::string out =
        zdd_test::run_capture("promtool check metrics < " + path + " 2>&1", &status);
    INFO(out);
    CHECK(status == 0);
}

zdd_test::Subprocess stream(E2eHost& h, const std::string& out, int seconds) {
    return zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                         "/stream/test?duration=" + std::to_string(seconds) +
                                         "&interval_ms=500",
                                     out);
}

}  // namespace

TEST_CASE("e2e metrics textfile follows a deploy and its drain", "[e2e]") {
    E2eHost h;
    const std::string m = (h.dir() / "zdd.prom").string();
    REQUIRE(h.zdd("deploy", {h.demo_app_binary(), "--metrics-textfile", m}).status == 0);
    check_promtool(m);
    CHECK(sample(zdd_e2e::read_file(m), "zdd_deploy_last_exit_code") == 0);

    auto curl = stream(h, (h.dir() / "s.txt").string(), 8);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));
    auto deploy = h.zdd_async("deploy", {h.demo_app_binary(), "--metrics-textfile", m}, {},
                              (h.dir() / "d.err").string());
    REQUIRE(zdd_test::wait_until(
        [&] {
            return sample(zdd_e2e::read_file(m), "zdd_deploy_drain_connections",
                          "color=\"blue\",class=\"active\"") >= 1;
        },
        30s));
    const std::string during = zdd_e2e::read_file(m);
    INFO(during);
    CHECK(sample(during, "zdd_deploy_phase", "phase=\"draining\"") == 1);
    CHECK(sample(during, "zdd_deploy_phase", "phase=\"done\"") == 0);
    CHECK(sample(during, "zdd_deploy_start_time_seconds") > 1.7e9);
    CHECK(sample(during, "zdd_deploy_drain_seconds", "color=\"blue\"") >= 0);
    // Every class of connection on the draining color has its series (-1: absent).
    CHECK(sample(during, "zdd_deploy_drain_connections", "color=\"blue\",class=\"idle\"") >= 0);
    CHECK(sample(during, "zdd_deploy_drain_connections", "color=\"blue\",class=\"stuck\"") >= 0);
    CHECK(sample(during, "zdd_deploy_drain_handed_off_streams", "color=\"blue\"") == 0);
    // The worker that carries the stream was told to quit by step 3's reload.
    CHECK(sample(during, "zdd_nginx_workers_shutting_down") >= 1);
    CHECK(sample(during, "zdd_nginx_oldest_shutting_down_worker_age_seconds") > 0);
    check_promtool(m);

    auto st = h.zdd("status", {"--json"});
    auto j = nlohmann::json::parse(st.out);
    CHECK(j["nginx_workers_shutting_down"]["count"].get<int>() >= 1);
    CHECK(j["nginx_workers_shutting_down"]["workers"][0]["pid"].get<int>() > 0);
    CHECK(h.zdd("status").out.find("nginx workers shutting down: ") != std::string::npos);

    CHECK(deploy.wait(30s) == 0);
    CHECK(curl.wait(10s) == 0);
    const std::string after = zdd_e2e::read_file(m);
    CHECK(sample(after, "zdd_deploy_phase", "phase=\"done\"") == 1);
    CHECK(sample(after, "zdd_deploy_last_exit_code") == 0);
    CHECK(sample(after, "zdd_deploy_connections_cut") == 0);
    check_promtool(m);
}

TEST_CASE("e2e metrics textfile counts what a drain timeout cut", "[e2e]") {
    E2eHost h;
    const std::string m = (h.dir() / "zdd.prom").string();
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    auto curl = stream(h, (h.dir() / "s.txt").string(), 30);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));
    auto r =
        h.zdd("deploy", {h.demo_app_binary(), "--drain-timeout", "1", "--metrics-textfile", m});
    CHECK(r.status == 3);
    CHECK(curl.wait(10s) >= 0);
    const std::string text = zdd_e2e::read_file(m);
    INFO(text);
    CHECK(sample(text, "zdd_deploy_connections_cut") == 1);
    CHECK(sample(text, "zdd_deploy_last_exit_code") == 3);
    check_promtool(m);
}

TEST_CASE("e2e status lists nginx workers shutting down, doctor notes them piling up", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    CHECK(h.zdd("status").out.find("nginx workers shutting down: none") != std::string::npos);
    // Three streams, a reload after each: three old workers keep one stream each.
    std::vector<zdd_test::Subprocess> streams;
    for (int i = 0; i < 3; ++i) {
        streams.push_back(stream(h, (h.dir() / ("s" + std::to_string(i))).string(), 8));
        REQUIRE(zdd_test::wait_until(
            [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == i + 1; },
            5s));
        zdd::Nginx(h.nginx().options()).reload();
    }
    auto j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j["nginx_workers_shutting_down"]["count"] == 3);
    auto d = h.zdd("doctor");
    CHECK(d.out.find("[WARN] 3 nginx workers are still shutting down") != std::string::npos);
    for (auto& s : streams) CHECK(s.wait(15s) == 0);
    j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j["nginx_workers_shutting_down"]["count"] == 0);
}
