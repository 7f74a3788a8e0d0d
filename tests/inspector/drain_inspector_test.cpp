// drain-inspector run as a real process against real loopback sockets, on both backends:
// snapshot, the exit codes of bad input, wait (the drain gate), watch and metrics.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "inspector_process.hpp"

using namespace zdd_test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr const char* kToken = "cli-test-token";

std::string backend_under_test() {
    std::string b = GENERATE(as<std::string>{}, "bpf", "sock_diag");
    if (b == "bpf") require_root();
    return b;
}

struct Connections {
    std::vector<UniqueFd> clients, servers;
    void open(int listen_fd, uint16_t port, int n) {
        for (int i = 0; i < n; ++i) {
            clients.push_back(tcp_connect("127.0.0.1", port));
            servers.push_back(tcp_accept(listen_fd));
        }
    }
    void close_last(int k) {
        for (int i = 0; i < k; ++i) {
            servers.pop_back();
            clients.pop_back();
        }
    }
};

void send_all(int fd, const std::string& s) {
    REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

std::string recv_some(int fd) {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// A /health/deployment app on a raw socket that keeps each connection open for `hold` after
// answering, as a slow app would: a poll connection that was not left out of the count would
// hold the drain for as long as polls go on.
class LingeringApp {
  public:
    explicit LingeringApp(std::chrono::milliseconds hold)
        : hold_(hold), listen_(tcp_listen("127.0.0.1", 0)), port_(local_port(listen_.get())) {
        thread_ = std::thread([this] { loop(); });
    }
    ~LingeringApp() {
        stop_ = true;
        thread_.join();
    }
    uint16_t port() const { return port_; }
    std::string url() const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/health/deployment";
    }
    std::atomic<int> streams{0};
    std::atomic<int> polls{0};

  private:
    void loop() {
        std::vector<std::pair<UniqueFd, Clock::time_point>> held;
        while (!stop_) {
            pollfd p{listen_.get(), POLLIN, 0};
            ::poll(&p, 1, 20);
            auto now = Clock::now();
            std::erase_if(held, [&](const auto& h) { return h.second <= now; });
            if (!(p.revents & POLLIN)) continue;
            UniqueFd c = tcp_accept(listen_.get());
            timeval tv{2, 0};
            ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string req;
            while (req.find("\r\n\r\n") == std::string::npos) {
                std::string more = recv_some(c.get());
                if (more.empty()) break;
                req += more;
            }
            bool ok = req.find(std::string("Authorization: Bearer ") + kToken + "\r\n") !=
                      std::string::npos;
            std::string body =
                ok ? R"({"status":"ok","version":"1","activeStreams":)" +
                         std::to_string(streams.load()) +
                         R"(,"activeRequests":0,"deploymentColor":"blue","readyForShutdown":true})"
                   : R"({"error":"unauthorized"})";
            std::string resp = std::string("HTTP/1.1 ") + (ok ? "200 OK" : "401 Unauthorized") +
                               "\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
            ::send(c.get(), resp.data(), resp.size(), MSG_NOSIGNAL);
            ++polls;
            held.emplace_back(std::move(c), now + hold_);
        }
    }

    std::chrono::milliseconds hold_;
    UniqueFd listen_;
    uint16_t port_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace

TEST_CASE("snapshot --json counts a real listener's connections") {
    std::string backend = backend_under_test();
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    uint16_t port = local_port(l.get());
    Connections conns;
    conns.open(l.get(), port, 25);

    RunResult r =
        run_inspector({"snapshot", "--port", std::to_string(port), "--json", "--backend", backend});
    INFO(r.err);
    REQUIRE(r.status == 0);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["backend"] == backend);
    CHECK(j["incomplete"] == false);
    CHECK(j["walks"].is_number_unsigned());  // the backend's per-socket passes so far
    REQUIRE(j["ports"].size() == 1);
    CHECK(j["ports"][0]["port"] == port);
    CHECK(j["ports"][0]["established"] == 25);
    CHECK(j["ports"][0]["listeners"] == 1);
    CHECK(j["ports"][0]["active"] == 25);  // fresh connections: recent data within idle_after
    int on_port = 0;
    for (const auto& s : j["sockets"])
        if (s["local"] == "127.0.0.1:" + std::to_string(port) && s["state"] == "ESTABLISHED")
            ++on_port;
    CHECK(on_port == 25);

    // Without --port: every port that has a LISTEN socket here, ours included.
    RunResult all = run_inspector({"snapshot", "--json", "--backend", backend});
    REQUIRE(all.status == 0);
    bool found = false;
    auto all_json = nlohmann::json::parse(all.out);
    for (const auto& p : all_json["ports"])
        if (p["port"] == port) found = p["established"] == 25;
    CHECK(found);

    // The table for people.
    RunResult table =
        run_inspector({"snapshot", "--port", std::to_string(port), "--backend", backend});
    REQUIRE(table.status == 0);
    CHECK(table.out.find("PORT") != std::string::npos);
    CHECK(table.out.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("bad input: exit 2 and one line saying how to fix it") {
    const std::vector<std::vector<std::string>> cases = {
        {},
        {"--bogus"},
        {"snapshot", "--bogus"},
        {"snapshot", "--port", "abc"},
        {"snapshot", "--port", "70000"},
        {"snapshot", "--backend", "nope"},
        {"wait"},
        {"wait", "--port", "8080", "--idle-after", "-1"},
        {"wait", "--port", "8080", "--token-file", "/nonexistent"},
        {"wait", "--port", "8080", "--timeout", "soon"},
        {"serve"},
        {"serve", "--listen", "not-an-address"},
        {"metrics", "--textfile-dir", "/nonexistent/dir"},
        {"wait", "--port", "1", "--health-url", "http://127.0.0.1:1/h"},  // no token anywhere
    };
    for (const auto& args : cases) {
        std::string cmd;
        for (const auto& a : args) cmd += a + " ";
        INFO("drain-inspector " << cmd);
        RunResult r = run_inspector(args, 10s, {{"VIBE_DEPLOYMENT_TOKEN", ""}});
        INFO("stderr: " << r.err);
        CHECK(r.status == 2);
        CHECK(count_lines(r.err) == 1);
        CHECK(r.err.rfind("drain-inspector: ", 0) == 0);
        CHECK(r.out.empty());
    }
    RunResult usage = run_inspector({"snapshot", "--bogus"});
    CHECK(usage.err.find("--help") != std::string::npos);
}

TEST_CASE("--help explains every subcommand") {
    RunResult r = run_inspector({"--help"});
    CHECK(r.status == 0);
    for (const char* sub : {"snapshot", "wait", "watch", "metrics", "serve", "Exit codes"})
        CHECK(r.out.find(sub) != std::string::npos);
    RunResult w = run_inspector({"wait", "--help"});
    CHECK(w.status == 0);
    for (const char* opt : {"--timeout", "--strict", "--idle-ok", "--health-url", "--token-file"})
        CHECK(w.out.find(opt) != std::string::npos);
}

TEST_CASE("monitor options before the subcommand; -v and -q on either side") {
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    const std::string port = std::to_string(local_port(l.get()));
    RunResult before = run_inspector({"--backend", "sock_diag", "-q", "snapshot", "-p", port});
    RunResult after = run_inspector({"snapshot", "-p", port, "--backend", "sock_diag", "-v"});
    INFO(before.err << after.err);
    CHECK(before.status == 0);
    CHECK(after.status == 0);
    CHECK(before.out.find("backend: sock_diag") != std::string::npos);
    CHECK(before.out == after.out);
    // Only the monitor's options are the app's: a wait option before the subcommand is refused.
    RunResult wrong = run_inspector({"--timeout", "3", "wait", "-p", port});
    CHECK(wrong.status == 2);
    RunResult help = run_inspector({"snapshot", "--help"});
    CHECK(help.out.find("Monitor options") != std::string::npos);
    CHECK(help.out.find("--timeout") == std::string::npos);
}

TEST_CASE("wait exits 0 once the last connection closes") {
    std::string backend = backend_under_test();
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    uint16_t port = local_port(l.get());
    Connections conns;
    conns.open(l.get(), port, 3);

    InspectorProcess wait(
        {"wait", "--port", std::to_string(port), "--timeout", "60", "--backend", backend});
    // Held while connections are open (the progress line says so).
    CHECK(wait_until([&] { return wait.err().find("Connections: 3") != std::string::npos; }, 5s));
    REQUIRE(wait.wait(1500ms) == -1);
    conns.close_last(2);
    REQUIRE(wait.wait(1000ms) == -1);  // one is left
    conns.close_last(1);
    // How soon is scripts/bench/drain_latency.sh's question; here: it does exit, drained.
    int status = wait.wait(30s);
    INFO("stdout: " << wait.out() << "stderr: " << wait.err());
    CHECK(status == 0);
    CHECK(wait.out().find("drained") != std::string::npos);
    // The last close was seen in the counters: no walk was needed to end it.
    CHECK(wait.err().find("; the end came from the counters") != std::string::npos);
}

TEST_CASE("wait --idle-ok returns once the last active socket turns idle") {
    std::string backend = backend_under_test();
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    uint16_t port = local_port(l.get());
    Connections conns;
    conns.open(l.get(), port, 1);
    // A keepalive exchange: a request answered at once, then silence.
    send_all(conns.clients[0].get(), "GET / HTTP/1.1\r\n\r\n");
    REQUIRE(!recv_some(conns.servers[0].get()).empty());
    send_all(conns.servers[0].get(), "HTTP/1.1 204 No Content\r\n\r\n");
    REQUIRE(!recv_some(conns.clients[0].get()).empty());

    // The progress interval is long, so only the wake at the idle threshold can end it early.
    InspectorProcess idle_ok({"wait", "--port", std::to_string(port), "--idle-ok", "--idle-after",
                              "1.5", "--progress-interval", "60", "--timeout", "60", "--backend",
                              backend});
    CHECK(wait_until([&] { return idle_ok.err().find("Active: 1") != std::string::npos; }, 5s));
    int status = idle_ok.wait(10s);
    INFO("stdout: " << idle_ok.out() << "stderr: " << idle_ok.err());
    CHECK(status == 0);
    CHECK(idle_ok.out().find("1 idle socket left") != std::string::npos);

    // Without --idle-ok and without an app report, the same idle socket holds the drain.
    RunResult held = run_inspector({"wait", "--port", std::to_string(port), "--idle-after", "0.5",
                                    "--timeout", "1.5", "--backend", backend});
    INFO("stdout: " << held.out);
    CHECK(held.status == 1);
    CHECK(held.out.find("idle/keepalive") != std::string::npos);
}

TEST_CASE("wait times out with exit 1 and the list of what is left") {
    std::string backend = backend_under_test();
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    uint16_t port = local_port(l.get());
    Connections conns;
    conns.open(l.get(), port, 2);

    RunResult r = run_inspector(
        {"wait", "--port", std::to_string(port), "--timeout", "1", "--backend", backend});
    INFO("stdout: " << r.out << "stderr: " << r.err);
    CHECK(r.status == 1);
    CHECK(r.out.find("timed out") != std::string::npos);
    for (const auto& c : conns.clients) {
        std::string tuple = "127.0.0.1:" + std::to_string(port) +
                            " <- 127.0.0.1:" + std::to_string(local_port(c.get())) +
                            " ESTABLISHED active/";
        CHECK(r.out.find(tuple) != std::string::npos);
    }
    CHECK(r.err.find("[INFO] Waiting") != std::string::npos);
}

TEST_CASE("wait --health-url: its own polls never hold the drain; app streams do; 401 is 2") {
    std::string backend = backend_under_test();
    LingeringApp app(3s);
    TempDir dir;
    std::string token = dir.write("token.env", std::string("VIBE_DEPLOYMENT_TOKEN=") + kToken);
    const std::vector<std::string> base = {"wait",
                                           "--port",
                                           std::to_string(app.port()),
                                           "--health-url",
                                           app.url(),
                                           "--token-file",
                                           token,
                                           "--timeout",
                                           "20",
                                           "--poll-interval",
                                           "0.3",
                                           "--backend",
                                           backend};

    SECTION("no traffic, 0 streams: drained although each poll connection lingers") {
        RunResult r = run_inspector(base, 15s);
        INFO("stdout: " << r.out << "stderr: " << r.err);
        CHECK(r.status == 0);
        CHECK(app.polls >= 1);
        CHECK(r.out.find("drained") != std::string::npos);
    }
    SECTION("the app's streams hold it until the app reports 0") {
        app.streams = 1;
        InspectorProcess wait(base);
        CHECK(wait_until([&] { return wait.err().find("Streams: 1") != std::string::npos; }, 5s));
        CHECK(wait.wait(1500ms) == -1);
        int polls_before = app.polls;
        app.streams = 0;
        int status = wait.wait(5s);
        INFO("stdout: " << wait.out() << "stderr: " << wait.err());
        CHECK(status == 0);
        CHECK(app.polls > polls_before);
    }
    SECTION("a wrong token is a configuration error") {
        std::string wrong = dir.write("wrong", "not-the-token");
        std::vector<std::string> args = base;
        args[6] = wrong;
        RunResult r = run_inspector(args, 15s);
        INFO("stderr: " << r.err);
        CHECK(r.status == 2);
        CHECK(count_lines(r.err) == 1);
        CHECK(r.err.find("401") != std::string::npos);
    }
    SECTION("a token file readable by others is refused before any poll") {
        std::string open = dir.write("open.env", std::string("VIBE_DEPLOYMENT_TOKEN=") + kToken,
                                     fs::perms::owner_read | fs::perms::others_read);
        std::vector<std::string> args = base;
        args[6] = open;
        RunResult r = run_inspector(args, 15s);
        CHECK(r.status == 2);
        CHECK(r.err.find("chmod 600") != std::string::npos);
        CHECK(app.polls == 0);
    }
}

TEST_CASE("wait: SIGTERM and SIGINT end it cleanly") {
    std::string backend = backend_under_test();
    int sig = GENERATE(SIGTERM, SIGINT);
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    uint16_t port = local_port(l.get());
    Connections conns;
    conns.open(l.get(), port, 1);
    InspectorProcess wait(
        {"wait", "--port", std::to_string(port), "--timeout", "0", "--backend", backend});
    REQUIRE(wait_until([&] { return wait.err().find("Waiting") != std::string::npos; }, 5s));
    wait.signal(sig);
    int status = wait.wait(3s);
    CHECK(status == 128 + sig);
    // The handler ran (a default signal death prints nothing): destructors freed everything.
    CHECK(wait.err().find("interrupted by") != std::string::npos);
}

TEST_CASE("watch refreshes a table and metrics pass promtool with the right values") {
    std::string backend = backend_under_test();
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    uint16_t port = local_port(l.get());
    std::string p = std::to_string(port);
    Connections conns;
    conns.open(l.get(), port, 4);

    RunResult watch = run_inspector(
        {"watch", "--port", p, "--interval", "0.2", "--iterations", "3", "--backend", backend});
    CHECK(watch.status == 0);
    size_t frames = 0;
    for (size_t at = 0; (at = watch.out.find("drain-inspector watch", at)) != std::string::npos;
         ++at)
        ++frames;
    CHECK(frames == 3);
    CHECK(watch.out.find("127.0.0.1:" + p) != std::string::npos);

    RunResult m =
        run_inspector({"metrics", "--port", p, "--idle-after", "600", "--backend", backend});
    REQUIRE(m.status == 0);
    CHECK(m.out.find("zdd_tcp_connections{port=\"" + p +
                     "\",class=\"active\",reason=\"recent_data\"} 4\n") != std::string::npos);
    CHECK(m.out.find("zdd_monitor_info{backend=\"" + backend + "\"} 1\n") != std::string::npos);
    CHECK(m.out.find("zdd_monitor_underflow_total 0\n") != std::string::npos);
    TempDir dir;
    std::string file = dir.write("m.prom", m.out);
    int status = -1;
    std::string lint = run_capture("promtool check metrics < " + file + " 2>&1", &status);
    INFO("promtool: " << lint);
    // 0: it parses and promtool's style lint has nothing to say (3 would be lint notes).
    CHECK(status == 0);
    CHECK(lint.empty());

    RunResult tf = run_inspector({"metrics", "--port", p, "--textfile-dir", dir.path(),
                                  "--idle-after", "600", "--backend", backend});
    CHECK(tf.status == 0);
    CHECK(tf.out.empty());
    std::string written = read_file(dir.file("drain_inspector.prom"));
    CHECK(written.find("zdd_tcp_connections{port=\"" + p +
                       "\",class=\"active\",reason=\"recent_data\"} 4\n") != std::string::npos);
}
