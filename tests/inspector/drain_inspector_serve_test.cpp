// drain-inspector serve scraped by a real Prometheus server: its query API sees exactly the
// active connections the test holds open, then fewer after some close.
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <thread>

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

namespace {

// A serve on a free loopback port with the sock_diag backend (no root needed), ready.
struct ServeUnderTest {
    uint16_t port = free_port();
    InspectorProcess proc{
        {"serve", "--listen", "127.0.0.1:" + std::to_string(port), "--backend", "sock_diag"}};
    ServeUnderTest() {
        httplib::Client cli("127.0.0.1", port);
        REQUIRE(wait_until([&] { return static_cast<bool>(cli.Get("/metrics")); }, 10s, 50ms));
    }
    long peak_rss_kb() const {
        std::ifstream f("/proc/" + std::to_string(pid()) + "/status");
        std::string line;
        while (std::getline(f, line))
            if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
        return -1;
    }
    pid_t pid() const {
        auto out = run_capture("ss -Hltnp 'sport = :" + std::to_string(port) + "'");
        auto at = out.find("pid=");
        return at == std::string::npos ? -1 : std::stoi(out.substr(at + 4));
    }
};

bool send_all(int fd, const std::string& s) {
    return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// `n` scrapes 1.5 s apart, each bounded by `bound_s` to connect and to answer: how many got
// their metrics.
int scrapes_answered(uint16_t port, int n, time_t bound_s) {
    int answered = 0;
    for (int i = 0; i < n; ++i) {
        std::this_thread::sleep_for(1500ms);
        httplib::Client cli("127.0.0.1", port);
        cli.set_connection_timeout(bound_s);
        cli.set_read_timeout(bound_s);
        auto res = cli.Get("/metrics");
        if (res && res->status == 200 && res->body.find("zdd_") != std::string::npos) ++answered;
    }
    return answered;
}

}  // namespace

TEST_CASE("serve: 50 slow clients (a header line every 3 s) do not starve a scrape") {
    ServeUnderTest serve;
    std::vector<UniqueFd> slow;
    for (int i = 0; i < 50; ++i) {
        slow.push_back(tcp_connect("127.0.0.1", serve.port));
        send_all(slow.back().get(), "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    }
    std::atomic<bool> done{false};
    std::thread dribble([&] {
        // At most 4 rounds: every 3 s one more header line on each connection still open.
        for (int round = 0; round < 4 && !done; ++round) {
            for (int t = 0; t < 30 && !done; ++t) std::this_thread::sleep_for(100ms);
            for (auto& fd : slow) send_all(fd.get(), "X-Slow: " + std::to_string(round) + "\r\n");
        }
    });
    // Scrapes while the slow clients hold their connections: each must be answered (the
    // client's 10 s bound is generous; with 8 workers held by slow clients it never came).
    const int answered = scrapes_answered(serve.port, 5, 10);
    done = true;
    dribble.join();
    CHECK(answered == 5);
    // The read timeout ended each slow request (a 400 Bad Request, then the connection
    // closes): none of them was left holding a worker.
    int dropped = 0;
    for (auto& fd : slow) {
        std::string got;
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0) got.append(buf, n);
        if (n == 0 || got.rfind("HTTP/1.1 400", 0) == 0) ++dropped;
    }
    CHECK(dropped == 50);
}

TEST_CASE("serve: more slow clients than workers, each a byte a second, do not starve a scrape") {
    // A byte every second never trips a per-read timeout; with one worker per connection,
    // 100 such clients held all 64 workers and every scrape waited behind them.
    ServeUnderTest serve;
    constexpr int kSlow = 100;
    std::vector<UniqueFd> slow;
    for (int i = 0; i < kSlow; ++i) {
        slow.push_back(tcp_connect("127.0.0.1", serve.port));
        send_all(slow.back().get(), "GET /metrics HTTP/1.1\r\nX-Slow: ");
    }
    std::atomic<bool> done{false};
    std::thread drip([&] {
        for (int round = 0; round < 12 && !done; ++round) {  // bounded: 12 s at most
            for (int t = 0; t < 10 && !done; ++t) std::this_thread::sleep_for(100ms);
            for (auto& fd : slow) send_all(fd.get(), "x");
        }
    });
    // Each scrape must be answered while the drip goes on (the issue asks < 1 s; the bound
    // here is looser for a busy CI machine, and far below the starvation it replaces).
    const int answered = scrapes_answered(serve.port, 4, 3);
    done = true;
    drip.join();
    CHECK(answered == 4);
    // No slow client kept its connection: each was cut to make room or at the request deadline.
    int cut = 0;
    const auto until = std::chrono::steady_clock::now() + 10s;
    for (auto& fd : slow) {
        char buf[4096];
        bool closed = false;
        while (!closed && std::chrono::steady_clock::now() < until) {
            pollfd p{fd.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) closed = ::recv(fd.get(), buf, sizeof buf, 0) <= 0;
        }
        if (closed) ++cut;
    }
    CHECK(cut == kSlow);
}

TEST_CASE("serve: a 60 MB request body or header is refused without growing the process") {
    ServeUnderTest serve;
    const long peak_before = serve.peak_rss_kb();
    REQUIRE(peak_before > 0);
    const std::size_t total = 60u << 20;
    const std::string chunk(1 << 20, 'x');
    // A body announced by Content-Length on a GET and a POST, and 60 MB of junk after a GET
    // (once read as the "next request line" without a bound).
    // And 60 MB of short header lines (cpp-httplib bounds each line, not their number).
    std::string header_lines;
    for (int i = 0; header_lines.size() < chunk.size(); ++i)
        header_lines += "X-H" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n";
    for (std::string head :
         {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(total) +
              "\r\n\r\n",
          "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(total) +
              "\r\n\r\n",
          std::string("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
          std::string("GET /metrics HTTP/1.1\r\n")}) {
        INFO(head.substr(0, 20));
        const bool headers = head.find("Host") == std::string::npos;
        UniqueFd c = tcp_connect("127.0.0.1", serve.port);
        REQUIRE(send_all(c.get(), head));
        std::size_t sent = 0;
        while (sent < total && send_all(c.get(), headers ? header_lines : chunk))
            sent += chunk.size();
        ::shutdown(c.get(), SHUT_WR);
        std::string answer;
        char buf[4096];
        for (ssize_t n; (n = ::recv(c.get(), buf, sizeof buf, 0)) > 0;) answer.append(buf, n);
        // A body: 413. The junk: the GET's answer, then the connection closes unread. The
        // header lines: no answer but a 400 (or none), the connection closed at 64 KiB.
        const bool junk = !headers && head.find("Content-Length") == std::string::npos;
        if (headers)
            CHECK((answer.empty() || answer.rfind("HTTP/1.1 400", 0) == 0));
        else
            CHECK(answer.rfind(junk ? "HTTP/1.1 200" : "HTTP/1.1 413", 0) == 0);
        CHECK(sent < total);  // the server closed before taking it all
    }
    const long peak_after = serve.peak_rss_kb();
    INFO("peak RSS before " << peak_before << " kB, after " << peak_after << " kB");
    CHECK(peak_after < peak_before + 16 * 1024);  // far below the 60 MB it used to buffer
    // And it still serves.
    httplib::Client cli("127.0.0.1", serve.port);
    auto res = cli.Get("/metrics");
    REQUIRE(res);
    CHECK(res->status == 200);
}

TEST_CASE("serve: a second serve on the same address fails with its own exit code") {
    ServeUnderTest first;
    auto r = run_inspector(
        {"serve", "--listen", "127.0.0.1:" + std::to_string(first.port), "--backend", "sock_diag"},
        10s);
    CHECK(r.status == 3);
    CHECK_THAT(r.err, Catch::Contains("address already in use"));
    CHECK(count_lines(r.err) == 1);
    // The first one still answers every scrape (no SO_REUSEPORT sharing).
    httplib::Client cli("127.0.0.1", first.port);
    for (int i = 0; i < 5; ++i) {
        auto res = cli.Get("/metrics");
        REQUIRE(res);
        CHECK(res->status == 200);
    }
}
