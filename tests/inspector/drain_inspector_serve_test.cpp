// drain-inspector serve scraped by a real Prometheus server: its query API sees exactly the
// active connections the test holds open, then fewer after some close.
#include <httplib.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "inspector_process.hpp"

using namespace zdd_test;
using namespace std::chrono_literals;

namespace {

std::string backend_under_test() {
    std::string b = GENERATE(as<std::string>{}, "bpf", "sock_diag");
    if (b == "bpf") require_root();
    return b;
}

// The value of an instant PromQL query, or -1 while Prometheus has no answer yet.
double query(uint16_t prom_port, const std::string& promql) {
    httplib::Client cli("127.0.0.1", prom_port);
    cli.set_connection_timeout(2);
    auto res =
        cli.Get(("/api/v1/query?query=" + httplib::detail::encode_query_param(promql)).c_str());
    if (!res || res->status != 200) return -1;
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded() || j["status"] != "success" || j["data"]["result"].empty()) return -1;
    return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
}

}  // namespace

TEST_CASE("serve answers /metrics with a fresh snapshot and stops on SIGTERM") {
    std::string backend = backend_under_test();
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    uint16_t port = local_port(l.get());
    uint16_t http_port = free_port();
    InspectorProcess serve({"serve", "--listen", "127.0.0.1:" + std::to_string(http_port), "--port",
                            std::to_string(port), "--idle-after", "600", "--backend", backend});
    httplib::Client cli("127.0.0.1", http_port);
    auto active_line = [&](int n) {
        return "zdd_tcp_connections{port=\"" + std::to_string(port) +
               "\",class=\"active\",reason=\"recent_data\"} " + std::to_string(n) + "\n";
    };
    REQUIRE(wait_until([&] { return static_cast<bool>(cli.Get("/metrics")); }, 10s, 50ms));
    CHECK(cli.Get("/metrics")->body.find(active_line(0)) != std::string::npos);
    UniqueFd c = tcp_connect("127.0.0.1", port);
    UniqueFd s = tcp_accept(l.get());
    auto res = cli.Get("/metrics");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Content-Type").find("text/plain") == 0);
    CHECK(res->body.find(active_line(1)) != std::string::npos);

    serve.signal(SIGTERM);
    CHECK(serve.wait(5s) == 0);
}

TEST_CASE("a real Prometheus scrapes serve: N active, then N-k") {
    std::string backend = backend_under_test();
    if (run_capture("command -v prometheus").empty())
        skip_or_fail("prometheus is not installed (Debian package prometheus)");
    constexpr int kN = 12, kK = 5;
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    uint16_t port = local_port(l.get());
    std::vector<UniqueFd> clients, servers;
    for (int i = 0; i < kN; ++i) {
        clients.push_back(tcp_connect("127.0.0.1", port));
        servers.push_back(tcp_accept(l.get()));
    }

    uint16_t metrics_port = free_port();
    InspectorProcess serve({"serve", "--listen", "127.0.0.1:" + std::to_string(metrics_port),
                            "--port", std::to_string(port), "--idle-after", "600", "--backend",
                            backend});

    TempDir dir;
    std::string config = dir.write("prometheus.yml",
                                   "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                   "scrape_configs:\n  - job_name: zdd\n    static_configs:\n"
                                   "      - targets: ['127.0.0.1:" +
                                       std::to_string(metrics_port) + "']\n");
    uint16_t prom_port = free_port();
    Subprocess prometheus(
        {"prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dir.file("data"),
         "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
        {}, dir.file("prom.out"), dir.file("prom.err"));

    const std::string promql =
        "sum(zdd_tcp_connections{port=\"" + std::to_string(port) + "\",class=\"active\"})";
    double got = -1;
    bool saw_n = wait_until([&] { return (got = query(prom_port, promql)) == kN; }, 60s, 250ms);
    INFO("last answer " << got << "; prometheus log tail: "
                        << read_file(dir.file("prom.err")).substr(0, 2000));
    REQUIRE(saw_n);

    for (int i = 0; i < kK; ++i) {
        servers.pop_back();
        clients.pop_back();
    }
    bool saw_rest =
        wait_until([&] { return (got = query(prom_port, promql)) == kN - kK; }, 30s, 250ms);
    INFO("last answer " << got);
    CHECK(saw_rest);

    prometheus.signal(SIGTERM);
    CHECK(prometheus.wait(10s) >= 0);
    serve.signal(SIGTERM);
    CHECK(serve.wait(5s) == 0);
}
