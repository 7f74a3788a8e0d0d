// The drain wait on real sockets and both backends: it ends from the kernel's counters, walks
// the sockets only when it needs classes (a bounded number of times, not once per close), and
// every progress line's Connections are its own Active + Idle + Stuck.
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "gate/drain_wait.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace drainmon;
using zdd_test::UniqueFd;

namespace {

std::unique_ptr<Backend> backend_under_test(BackendKind kind) {
    if (kind == BackendKind::Bpf) zdd_test::require_root();
    return make_backend(kind, BackendOptions{});
}

// Forwards to a real backend and counts the per-socket passes the wait asks for. counts()
// goes to the real backend's own counts(), whatever it costs there, and is not a walk here.
class CountingBackend : public Backend {
  public:
    explicit CountingBackend(Backend& real) : real_(real) {}
    std::string name() const override { return real_.name(); }
    void watch(uint16_t port) override { real_.watch(port); }
    Snapshot snapshot(const std::vector<uint16_t>& ports,
                      const std::vector<std::pair<Endpoint, Endpoint>>& exclude) override {
        ++asked;
        return real_.snapshot(ports, exclude);
    }
    PortCounts counts(uint16_t port) override {
        ++count_reads;
        return real_.counts(port);
    }
    void walk(const std::vector<uint16_t>& ports,
              const std::function<void(const SocketSample&)>& visit, Snapshot& out) override {
        ++asked;
        real_.walk(ports, visit, out);
    }
    uint64_t walks() const override { return real_.walks(); }
    bool wait_close(std::chrono::milliseconds timeout) override {
        const bool woke = real_.wait_close(timeout);
        if (woke) ++wakes;
        return woke;
    }
    void wake_at(uint16_t port, int64_t connections) override { real_.wake_at(port, connections); }
    int event_fd() const override { return real_.event_fd(); }

    std::atomic<uint64_t> asked{0};
    std::atomic<uint64_t> count_reads{0};
    std::atomic<uint64_t> wakes{0};  // wait_close() calls a close ended

  private:
    Backend& real_;
};

// The wait's log, written by its thread and read by the test's (no put area: every write
// comes through here, under the lock).
class SharedLog : public std::streambuf {
  public:
    std::string text() {
        std::lock_guard lock(mu_);
        return text_;
    }

  protected:
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        std::lock_guard lock(mu_);
        text_.append(s, static_cast<size_t>(n));
        return n;
    }
    int_type overflow(int_type c) override {
        if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
        std::lock_guard lock(mu_);
        text_ += traits_type::to_char_type(c);
        return c;
    }

  private:
    std::mutex mu_;
    std::string text_;
};

struct ProgressFigures {
    int64_t connections, active, idle, stuck;
};

std::vector<ProgressFigures> progress_lines(const std::string& log) {
    static const std::regex line(
        R"(\[INFO\] Waiting \[\d+m \d+s\]\.\.\. Connections: (\d+), Requests: (n/a|\d+), )"
        R"(Streams: (n/a|\d+) \(Active: (\d+), Idle: (\d+), Stuck: (\d+)\))");
    std::vector<ProgressFigures> out;
    std::istringstream in(log);
    for (std::string l; std::getline(in, l);) {
        std::smatch m;
        if (!std::regex_search(l, m, line)) continue;
        out.push_back({std::stoll(m[1]), std::stoll(m[4]), std::stoll(m[5]), std::stoll(m[6])});
    }
    return out;
}

void raise_fd_limit(rlim_t want) {
    rlimit r{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &r) == 0);
    if (r.rlim_cur >= want) return;
    r.rlim_cur = std::min(want, r.rlim_max);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &r) == 0);
    if (r.rlim_cur < want) zdd_test::skip_or_fail("RLIMIT_NOFILE hard limit below the test's fds");
}

// The wait, run on its own thread as zdd and drain-inspector run it.
struct Waiter {
    Waiter(Backend& b, const DrainWaitOptions& o) : log_stream(&log) {
        thread = std::thread([&b, o, this] {
            result = wait_for_drain(b, o, log_stream, [this] { return stop.load() ? 15 : 0; });
            done = true;
        });
    }
    ~Waiter() {
        stop = true;
        thread.join();
    }
    SharedLog log;
    std::ostream log_stream;
    std::atomic<bool> stop{false}, done{false};
    DrainResult result;
    std::thread thread;
};

}  // namespace

TEST_CASE("drain of 2,000 connections: the end comes from the counters, walks stay few") {
    const auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    INFO((kind == BackendKind::Bpf ? "bpf" : "sock_diag"));
    constexpr int kConnections = 2000;
    raise_fd_limit(2 * kConnections + 256);
    auto real = backend_under_test(kind);
    CountingBackend backend(*real);

    UniqueFd listener = zdd_test::tcp_listen("127.0.0.1", 0);
    const uint16_t port = zdd_test::local_port(listener.get());
    std::vector<UniqueFd> clients, servers;
    for (int i = 0; i < kConnections; ++i) {
        clients.push_back(zdd_test::tcp_connect("127.0.0.1", port));
        servers.push_back(zdd_test::tcp_accept(listener.get()));
    }

    DrainWaitOptions o;
    o.port = port;
    o.timeout = 120s;  // a bound, never reached when it works
    o.progress_every = 1s;
    Waiter waiter(backend, o);
    const std::string first = "Connections: " + std::to_string(kConnections) + ",";
    REQUIRE(zdd_test::wait_until([&] { return waiter.log.text().find(first) != std::string::npos; },
                                 30s));
    const uint64_t walks_before = backend.asked;
    const uint64_t backend_walks_before = real->walks();
    const uint64_t wakes_before = backend.wakes;

    // Close evenly over ~2 s: 10 connections (server end first) every 10 ms.
    for (int i = kConnections; i > 0; i -= 10) {
        for (int k = 0; k < 10; ++k) {
            servers.pop_back();
            clients.pop_back();
        }
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(zdd_test::wait_until([&] { return waiter.done.load(); }, 60s));
    const DrainResult& r = waiter.result;
    const std::string log = waiter.log.text();
    INFO(log);
    INFO(r.verdict.reason);
    CHECK(r.end == DrainEnd::drained);
    CHECK(r.from_counts);  // decided from the counters, no walk after the last close
    CHECK(r.verdict.figures.connections == 0);
    REQUIRE(r.snapshot.ports.size() == 1);
    CHECK(r.snapshot.ports[0].established + r.snapshot.ports[0].close_wait == 0);

    // Bounded: not one walk per close (2,000 of them); the wait says how many it made.
    const uint64_t walks_during = backend.asked - walks_before;
    INFO("walks during the closes: " << walks_during << ", counter reads: " << r.count_reads);
    CHECK(walks_during <= 20);
    // And as the backend counts them: its counts() must not walk either.
    CHECK(real->walks() - backend_walks_before <= 20);
    CHECK(r.walks == backend.asked);
    CHECK(r.count_reads > r.walks);
    // BPF: the kernel wakes the wait only for the closes it decides on (here the last one:
    // idle sockets with no app report all block), not for each of the 2,000.
    const uint64_t wakes_during = backend.wakes - wakes_before;
    INFO("wakes by a close during the closes: " << wakes_during);
    if (kind == BackendKind::Bpf) CHECK(wakes_during <= 20);

    // Every line: Connections are its own Active + Idle + Stuck (one view each).
    const auto lines = progress_lines(log);
    REQUIRE(!lines.empty());
    CHECK(lines.front().connections == kConnections);
    for (const auto& l : lines) {
        INFO("Connections " << l.connections << " Active " << l.active << " Idle " << l.idle
                            << " Stuck " << l.stuck);
        CHECK(l.connections == l.active + l.idle + l.stuck);
    }
}

TEST_CASE("drain of an empty port: decided from the counters without a walk") {
    const auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    auto real = backend_under_test(kind);
    CountingBackend backend(*real);
    UniqueFd listener = zdd_test::tcp_listen("127.0.0.1", 0);
    DrainWaitOptions o;
    o.port = zdd_test::local_port(listener.get());
    o.timeout = 30s;
    std::ostringstream log;
    DrainResult r = wait_for_drain(backend, o, log, [] { return 0; });
    CHECK(r.end == DrainEnd::drained);
    CHECK(r.from_counts);
    CHECK(r.walks == 0);
    CHECK(backend.asked == 0);
    CHECK(r.verdict.figures.listeners == 1);

    // Nobody listens either: gone, still from the counters.
    listener.reset();
    DrainResult gone = wait_for_drain(backend, o, log, [] { return 0; });
    CHECK(gone.end == DrainEnd::gone);
    CHECK(gone.from_counts);
    CHECK(backend.asked == 0);
}

TEST_CASE("drain with an idle socket: the class timer ends it after one more walk") {
    const auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    if (kind == BackendKind::Bpf) zdd_test::require_root();
    BackendOptions bo;
    bo.thresholds.idle_after_ms = 1000;
    auto real_backend = make_backend(kind, bo);
    CountingBackend backend(*real_backend);
    UniqueFd listener = zdd_test::tcp_listen("127.0.0.1", 0);
    const uint16_t port = zdd_test::local_port(listener.get());
    UniqueFd client = zdd_test::tcp_connect("127.0.0.1", port);
    UniqueFd server = zdd_test::tcp_accept(listener.get());
    // A keepalive exchange: a request answered at once, then silence.
    char buf[64];
    REQUIRE(::send(client.get(), "GET / HTTP/1.1\r\n\r\n", 18, 0) == 18);
    REQUIRE(::recv(server.get(), buf, sizeof buf, 0) > 0);
    REQUIRE(::send(server.get(), "HTTP/1.1 204 OK\r\n\r\n", 19, 0) == 19);
    REQUIRE(::recv(client.get(), buf, sizeof buf, 0) > 0);

    DrainWaitOptions o;
    o.port = port;
    o.timeout = 30s;
    o.progress_every = 60s;  // only the class timer can end it early
    o.policy.idle_ok = true;
    o.thresholds.idle_after_ms = 1000;
    std::ostringstream log;
    DrainResult r = wait_for_drain(backend, o, log, [] { return 0; });
    INFO(log.str());
    CHECK(r.end == DrainEnd::drained);
    CHECK_FALSE(r.from_counts);  // a connection is left: only a walk can say it is idle
    CHECK(r.verdict.figures.idle == 1);
    CHECK(r.verdict.figures.connections == 1);
    CHECK(r.walks >= 2);
    CHECK(r.walks <= 4);  // the first view and the walk at the timer (plus slack for jiffies)
}
