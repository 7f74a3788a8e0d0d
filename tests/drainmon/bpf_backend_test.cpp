// The BPF backend on real loopback sockets: exact counts against the kernel's own `ss`,
// seeding, namespaces, bounds, close events, bpf_stats proof and cleanup.
#include "monitor/bpf_backend.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tcp_pair.hpp"
#include "test_support.hpp"

using drainmon::BackendError;
using drainmon::BackendOptions;
using drainmon::BpfBackend;
using drainmon::PortCounts;
using drainmon::Snapshot;
using namespace std::chrono_literals;
using zdd_test::TcpPair;
using zdd_test::UniqueFd;

namespace {

const PortCounts& port_of(const Snapshot& s, uint16_t port) {
    for (const auto& p : s.ports)
        if (p.port == port) return p;
    FAIL("port " << port << " missing from snapshot");
    throw std::logic_error("unreachable");
}

std::vector<TcpPair> open_pairs(int listen_fd, const std::string& ip, uint16_t port, int n) {
    std::vector<TcpPair> pairs;
    for (int i = 0; i < n; ++i) pairs.push_back(zdd_test::tcp_pair(listen_fd, ip, port));
    return pairs;
}

// Snapshots until `pred` holds: wakes on close events, and re-checks every 50 ms for
// transitions that emit none (FIN_WAIT2 -> CLOSE, say).
template <typename Pred>
Snapshot settle(BpfBackend& b, uint16_t port, Pred pred, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        Snapshot s = b.snapshot({port});
        if (pred(port_of(s, port)) || std::chrono::steady_clock::now() >= deadline) return s;
        b.wait_close(50ms);
    }
}

void reset_client(UniqueFd& fd) {  // close with RST instead of FIN
    linger l{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    fd.reset();
}

// bpftool's answer; a bpftool that fails fails the test (an empty list would make every "none of
// ours is left" check pass). bpftool is a build dependency (scripts/install-deps.sh).
nlohmann::json bpftool_json(const std::string& args) {
    int status = 0;
    std::string out = zdd_test::run_capture("bpftool -j " + args + " 2>/dev/null", &status);
    if (status != 0 || out.empty())
        FAIL("bpftool -j " << args << " failed (exit " << status << ")");
    return nlohmann::json::parse(out);
}

std::set<uint32_t> live_ids(const std::string& kind) {  // "prog" or "map"
    std::set<uint32_t> ids;
    for (const auto& o : bpftool_json(kind + " show")) ids.insert(o.at("id").get<uint32_t>());
    return ids;
}

// A network namespace made with `ip netns add`, deleted on destruction.
struct NetnsGuard {
    std::string name;
    explicit NetnsGuard(std::string n) : name(std::move(n)) {
        int st = 0;
        zdd_test::run_capture("ip netns add " + name + " && ip -n " + name + " link set lo up",
                              &st);
        if (st != 0) zdd_test::skip_or_fail("cannot create network namespace " + name);
    }
    ~NetnsGuard() { zdd_test::run_capture("ip netns del " + name + " 2>/dev/null"); }
};

// kernel.bpf_stats_enabled set for the scope, then restored to what it was.
struct BpfStatsGuard {
    std::string old;
    BpfStatsGuard() {
        std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
        std::getline(in, old);
        write("1");
    }
    ~BpfStatsGuard() { write(old.empty() ? "0" : old); }
    static void write(const std::string& v) {
        std::ofstream out("/proc/sys/kernel/bpf_stats_enabled");
        out << v << "\n";
    }
};

// `ss -Htn state STATE '( sport = :P )'` line count ("close-wait", "fin-wait-2", ...).
int ss_count(const std::string& state, uint16_t port) {
    return std::stoi(zdd_test::run_capture("ss -Htn state " + state +
                                           " '( sport = :" + std::to_string(port) + " )' | wc -l"));
}

int ss_listeners(uint16_t port) {
    return std::stoi(
        zdd_test::run_capture("ss -Htln '( sport = :" + std::to_string(port) + " )' | wc -l"));
}

// Times a program of `b` has run (bpf_stats must be on): an iterator runs once per element
// it visits, plus once at the end.
uint64_t run_cnt(const BpfBackend& b, const std::string& prog_name) {
    for (const auto& prog : b.programs()) {
        if (prog.name != prog_name) continue;
        auto j = bpftool_json("prog show id " + std::to_string(prog.id));
        return j.is_object() ? j.value("run_cnt", 0ull) : 0;
    }
    FAIL("no program " << prog_name);
    return 0;
}

}  // namespace

TEST_CASE("100 connections are counted exactly, and follow 40 closes") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    b.watch(port);

    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 100);
    Snapshot s = b.snapshot({port});
    const PortCounts& pc = port_of(s, port);
    CHECK(pc.established == 100);
    CHECK(pc.established == zdd_test::ss_established(port));
    CHECK(pc.listeners == 1);
    CHECK(s.sockets.size() == 100);
    for (const auto& sock : s.sockets) {
        // the client ends (ephemeral local ports) are never counted under the port
        CHECK(sock.local.port == port);
        CHECK(sock.in.state == ZDD_TCP_ESTABLISHED);
    }
    CHECK(pc.state_changes[ZDD_TCP_ESTABLISHED] == 100);
    CHECK(b.tracked_sockets() == 100);

    // 20 shut down by the server: FIN_WAIT1/2 on our side ("closing"). (Closed outright, they
    // would turn into orphaned FIN_WAIT2 timewait socks, which are not counted: see the test
    // "an orphaned FIN_WAIT2 timewait sock is neither counted nor sampled".)
    for (int i = 0; i < 20; ++i) REQUIRE(::shutdown(pairs[i].server.get(), SHUT_WR) == 0);
    CHECK(b.wait_close(2s));  // woken by the ring buffer event, not the timeout
    s = settle(b, port, [](const PortCounts& p) { return p.established == 80; });
    CHECK(port_of(s, port).established == 80);
    CHECK(port_of(s, port).established == zdd_test::ss_established(port));
    s = settle(b, port, [](const PortCounts& p) { return p.closing == 20; });
    CHECK(port_of(s, port).closing == 20);

    // 20 closed by the client: CLOSE_WAIT on our side
    for (int i = 20; i < 40; ++i) pairs[i].client.reset();
    CHECK(b.wait_close(2s));
    s = settle(b, port, [](const PortCounts& p) { return p.close_wait == 20; });
    CHECK(port_of(s, port).established == 60);
    CHECK(port_of(s, port).established == zdd_test::ss_established(port));
    CHECK(port_of(s, port).close_wait == 20);
    CHECK(s.underflow == 0);
    CHECK(s.overflow == 0);
    CHECK_FALSE(s.incomplete);

    pairs.clear();
    s = settle(b, port, [](const PortCounts& p) {
        return p.established == 0 && p.close_wait == 0 && p.closing == 0;
    });
    CHECK(port_of(s, port).established == 0);
    CHECK(port_of(s, port).close_wait == 0);
    CHECK(port_of(s, port).closing == 0);
    CHECK(b.tracked_sockets() == 0);
    CHECK(b.underflow() == 0);
}

TEST_CASE("sockets that existed before the backend loaded are seeded once") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 40);
    for (int i = 30; i < 35; ++i) pairs[i].client.reset();  // -> CLOSE_WAIT here
    for (int i = 35; i < 40; ++i)                           // -> FIN_WAIT2 here
        REQUIRE(::shutdown(pairs[i].server.get(), SHUT_WR) == 0);
    REQUIRE(zdd_test::wait_until([&] { return zdd_test::ss_established(port) == 30; }, 2s));

    BpfBackend b(BackendOptions{});
    b.watch(port);
    b.watch(port);  // idempotent: no second walk that could count twice
    Snapshot s = b.snapshot({port});
    Snapshot again = b.snapshot({port});  // every snapshot walks; still counted once
    for (const Snapshot* snap : {&s, &again}) {
        const PortCounts& pc = port_of(*snap, port);
        CHECK(pc.established == 30);
        CHECK(pc.close_wait == 5);
        CHECK(pc.closing == 5);
    }
    CHECK(b.tracked_sockets() == 40);

    // the seeded sockets are uncounted as they close, without underflow
    pairs.clear();
    s = settle(b, port, [](const PortCounts& p) {
        return p.established == 0 && p.close_wait == 0 && p.closing == 0;
    });
    CHECK(port_of(s, port).established == 0);
    CHECK(port_of(s, port).close_wait == 0);
    CHECK(port_of(s, port).closing == 0);
    CHECK(s.underflow == 0);
    CHECK(b.tracked_sockets() == 0);
}

TEST_CASE("connections opened while the backend loads and seeds are counted exactly once") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0, 4096);
    uint16_t port = zdd_test::local_port(lst.get());

    std::atomic<bool> stop{false};
    std::atomic<int> made{0};
    std::vector<UniqueFd> clients;
    clients.reserve(3000);
    std::string error;
    std::thread connector([&] {
        try {
            // bounded: at most 3000 connections (the listener's backlog is 4096)
            while (!stop && clients.size() < 3000) {
                clients.push_back(zdd_test::tcp_connect("127.0.0.1", port));
                ++made;
            }
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    struct Joiner {  // stops and joins the connector even when a REQUIRE throws
        std::atomic<bool>& stop;
        std::thread& t;
        ~Joiner() {
            stop = true;
            if (t.joinable()) t.join();
        }
    } joiner{stop, connector};
    REQUIRE(zdd_test::wait_until([&] { return made >= 50; }, 5s));

    // several backends, each seeding while connections keep arriving
    std::vector<std::unique_ptr<BpfBackend>> backends;
    for (int i = 0; i < 4; ++i) {
        backends.push_back(std::make_unique<BpfBackend>(BackendOptions{}));
        backends.back()->watch(port);
    }
    int at_stop = made + 100;
    zdd_test::wait_until([&] { return made >= at_stop || made >= 3000; }, 5s);
    stop = true;
    connector.join();
    REQUIRE(error.empty());

    int n = static_cast<int>(clients.size());
    INFO("connections made: " << n);
    REQUIRE(zdd_test::wait_until([&] { return zdd_test::ss_established(port) == n; }, 3s));
    for (auto& b : backends) {
        Snapshot s = b->snapshot({port});
        CHECK(port_of(s, port).established == n);
        CHECK(s.underflow == 0);
        CHECK(s.overflow == 0);
    }
}

TEST_CASE("IPv6 counts, and IPv4 and IPv6 listeners on one port add up") {
    zdd_test::require_root();
    UniqueFd lst4 = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst4.get());
    UniqueFd lst6 = zdd_test::tcp_listen("::1", port);
    BpfBackend b(BackendOptions{});

    auto v6 = open_pairs(lst6.get(), "::1", port, 10);
    auto v4 = open_pairs(lst4.get(), "127.0.0.1", port, 5);
    b.watch(port);                                        // v6 and v4 both seeded
    auto more6 = open_pairs(lst6.get(), "::1", port, 3);  // and counted by the tracepoint
    Snapshot s = b.snapshot({port});
    const PortCounts& pc = port_of(s, port);
    CHECK(pc.established == 18);
    CHECK(pc.established == zdd_test::ss_established(port));
    CHECK(pc.listeners == 2);
    int six = 0;
    for (const auto& sock : s.sockets) {
        if (sock.local.family != AF_INET6) continue;
        ++six;
        CHECK(sock.local.ip == "::1");
        CHECK(sock.remote.ip == "::1");
        CHECK(sock.local.str() == "[::1]:" + std::to_string(port));
    }
    CHECK(six == 13);

    more6.clear();
    CHECK(b.wait_close(2s));
    s = settle(b, port, [](const PortCounts& p) { return p.established == 15; });
    CHECK(port_of(s, port).established == 15);
}

TEST_CASE("the same port in another network namespace changes nothing here") {
    zdd_test::require_root();
    NetnsGuard ns("zdd-bpf-test-" + std::to_string(::getpid()));
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    b.watch(port);
    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 3);
    Snapshot before = b.snapshot({port});
    REQUIRE(port_of(before, port).established == 3);
    b.wait_close(0ms);  // drain events so far

    // A thread in the other namespace (setns moves only the calling thread) listens on the
    // same port number, connects 7 times, closes them all and does it again.
    std::string error;
    std::thread other([&] {
        try {
            UniqueFd nsfd(::open(("/run/netns/" + ns.name).c_str(), O_RDONLY | O_CLOEXEC));
            if (!nsfd || ::setns(nsfd.get(), CLONE_NEWNET) != 0)
                throw std::runtime_error("setns failed");
            UniqueFd olst = zdd_test::tcp_listen("127.0.0.1", port);
            for (int round = 0; round < 2; ++round) {
                auto op = open_pairs(olst.get(), "127.0.0.1", port, 7);
                if (zdd_test::local_port(op[0].server.get()) != port)
                    throw std::runtime_error("unexpected port");
                for (int i = 0; i < 7; ++i) (i % 2 ? op[i].client : op[i].server).reset();
            }
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    other.join();
    REQUIRE(error.empty());

    CHECK_FALSE(b.wait_close(300ms));  // no close event for our port
    Snapshot after = b.snapshot({port});
    const PortCounts& pc = port_of(after, port);
    CHECK(pc.established == 3);
    CHECK(pc.established == zdd_test::ss_established(port));
    CHECK(pc.close_wait == 0);
    CHECK(pc.closing == 0);
    CHECK(pc.listeners == 1);
    CHECK(pc.state_changes == port_of(before, port).state_changes);
    CHECK(after.sockets.size() == 3);
    CHECK(after.underflow == 0);
    // The port's bit in the tracepoint's bitmap is set for every namespace; the (netns, port)
    // map still kept the other namespace's listener and connections out of the counters.
    PortCounts c = b.counts(port);
    CHECK(c.listeners == 1);
    CHECK(c.established == 3);
    CHECK(c.state_changes == port_of(before, port).state_changes);
    int visited = 0;
    Snapshot w;
    b.walk(
        {port}, [&](const drainmon::SocketSample&) { ++visited; }, w);
    CHECK(visited == 3);
}

TEST_CASE("10,000 connect/close cycles end on the exact count with no underflow") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    b.watch(port);
    auto kept = open_pairs(lst.get(), "127.0.0.1", port, 7);

    constexpr int kCycles = 10000;
    for (int i = 0; i < kCycles; ++i) {
        TcpPair p = zdd_test::tcp_pair(lst.get(), "127.0.0.1", port);
        switch (i % 3) {
            case 0:  // client first: CLOSE_WAIT -> LAST_ACK here
                p.client.reset();
                p.server.reset();
                break;
            case 1:  // server first: FIN_WAIT1 -> FIN_WAIT2 -> TIME_WAIT here
                p.server.reset();
                p.client.reset();
                break;
            default:  // client resets: ESTABLISHED -> CLOSE here
                reset_client(p.client);
                p.server.reset();
                break;
        }
    }
    Snapshot s = settle(b, port, [](const PortCounts& p) {
        return p.established == 7 && p.close_wait == 0 && p.closing == 0;
    });
    const PortCounts& pc = port_of(s, port);
    CHECK(pc.established == 7);
    CHECK(pc.established == zdd_test::ss_established(port));
    CHECK(pc.close_wait == 0);
    CHECK(pc.closing == 0);
    CHECK(pc.state_changes[ZDD_TCP_ESTABLISHED] == kCycles + 7);
    CHECK(pc.state_changes[ZDD_TCP_CLOSE_WAIT] >= kCycles / 3);
    CHECK(s.underflow == 0);
    CHECK(s.overflow == 0);
    CHECK(b.tracked_sockets() == 7);
    CHECK(b.dropped_events() == 0);
}

TEST_CASE("a socket cap of 64 with 100 connections reports overflow and incomplete counts") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BackendOptions opts;
    opts.max_sockets = 64;
    BpfBackend b(opts);
    b.watch(port);
    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 100);

    Snapshot s = b.snapshot({port});
    CHECK(s.overflow >= 36);
    CHECK(s.incomplete);
    CHECK(port_of(s, port).established == 64);
    CHECK(b.tracked_sockets() == 64);
    CHECK(s.sockets.size() == 100);  // the walk still sees every socket

    pairs.clear();
    s = settle(b, port, [](const PortCounts& p) {
        return p.established == 0 && p.close_wait == 0 && p.closing == 0;
    });
    CHECK(port_of(s, port).established == 0);
    CHECK(port_of(s, port).closing == 0);
    CHECK(s.underflow == 0);
    CHECK(b.tracked_sockets() == 0);

    // slots freed: new connections are counted again
    auto again = open_pairs(lst.get(), "127.0.0.1", port, 10);
    CHECK(port_of(b.snapshot({port}), port).established == 10);
}

TEST_CASE("a peer that closes first leaves a counted CLOSE_WAIT socket") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BackendOptions opts;
    opts.thresholds = {100, 50, 300};
    BpfBackend b(opts);
    b.watch(port);
    TcpPair p = zdd_test::tcp_pair(lst.get(), "127.0.0.1", port);
    uint16_t client_port = zdd_test::local_port(p.client.get());
    p.client.reset();  // the peer closes; the app (server end) never does

    CHECK(b.wait_close(2s));
    Snapshot s = settle(b, port, [](const PortCounts& c) { return c.close_wait == 1; });
    CHECK(port_of(s, port).close_wait == 1);
    CHECK(port_of(s, port).established == 0);
    REQUIRE(s.sockets.size() == 1);
    CHECK(s.sockets[0].in.state == ZDD_TCP_CLOSE_WAIT);
    CHECK(s.sockets[0].remote.port == client_port);

    // past stuck_after (300 ms here) the kernel's classifier calls it stuck
    std::this_thread::sleep_for(400ms);
    s = b.snapshot({port});
    REQUIRE(s.sockets.size() == 1);
    CHECK(s.sockets[0].verdict.cls == ZDD_CLASS_STUCK);
    CHECK(s.sockets[0].verdict.reason == ZDD_REASON_CLOSE_WAIT);
    CHECK(port_of(s, port).stuck == 1);
}

TEST_CASE("samples carry the socket's facts, and excluded 4-tuples leave the counts") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 3);
    const char req[100] = {};
    REQUIRE(::send(pairs[0].client.get(), req, sizeof req, 0) == sizeof req);
    REQUIRE(zdd_test::wait_until(
        [&] {
            auto* s0 = zdd_test::server_side(b.snapshot({port}), pairs[0].client.get());
            return s0 && s0->in.recv_queue == 100;
        },
        2s));

    Snapshot s = b.snapshot({port});
    const auto* s0 = zdd_test::server_side(s, pairs[0].client.get());
    REQUIRE(s0 != nullptr);
    CHECK(s0->local.str() == "127.0.0.1:" + std::to_string(port));
    CHECK(s0->remote.ip == "127.0.0.1");
    CHECK(s0->in.recv_queue == 100);  // received, not read by the app
    CHECK(s0->in.send_queue == 0);
    CHECK(s0->in.unacked_bytes == 0);
    CHECK(s0->in.last_recv_ms < 5000);
    CHECK(s0->in.snd_wnd > 0);
    CHECK(s0->in.retransmits == 0);
    CHECK(s0->verdict.cls == ZDD_CLASS_ACTIVE);
    CHECK(s0->verdict.reason == ZDD_REASON_RECENT_DATA);
    CHECK(port_of(s, port).active == 3);

    // the gate's own polling connection is left out of counts and samples
    const auto* s1 = zdd_test::server_side(s, pairs[1].client.get());
    REQUIRE(s1 != nullptr);
    Snapshot ex = b.snapshot({port}, {{s1->local, s1->remote}});
    CHECK(port_of(ex, port).established == 2);
    CHECK(ex.sockets.size() == 2);
    CHECK(zdd_test::server_side(ex, pairs[1].client.get()) == nullptr);
    CHECK(port_of(ex, port).active == 2);
}

TEST_CASE("the ring buffer fd wakes an epoll/poll loop on a close") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    b.watch(port);
    TcpPair p = zdd_test::tcp_pair(lst.get(), "127.0.0.1", port);
    REQUIRE(b.event_fd() >= 0);
    CHECK_FALSE(b.wait_close(100ms));  // nothing closed yet

    pollfd pfd{b.event_fd(), POLLIN, 0};
    CHECK(::poll(&pfd, 1, 0) == 0);
    p.server.reset();
    CHECK(::poll(&pfd, 1, 2000) == 1);
    CHECK(b.wait_close(0ms));  // the event that woke poll is still there to consume
    CHECK_FALSE(b.wait_close(0ms));
}

TEST_CASE("HZ comes from the kernel config, and measuring it agrees") {
    zdd_test::require_root();
    BpfBackend b(BackendOptions{});
    CHECK(b.hz() > 0);
    CHECK(b.measure_hz() == b.hz());
}

TEST_CASE("with bpf_stats enabled, bpftool shows our programs ran") {
    zdd_test::require_root();
    BpfStatsGuard stats;
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    b.watch(port);
    {
        auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 10);
        CHECK(port_of(b.snapshot({port}), port).established == 10);
    }
    std::set<std::string> ran;
    for (const auto& prog : b.programs()) {
        auto j = bpftool_json("prog show id " + std::to_string(prog.id));
        REQUIRE(j.is_object());
        CHECK(j.at("name").get<std::string>() == prog.name);
        if (j.value("run_cnt", 0ull) > 0) ran.insert(prog.name);
    }
    CHECK(ran.count("zdd_set_state") == 1);
    CHECK(ran.count("zdd_iter_tcp") == 1);
}

TEST_CASE("nothing of ours stays loaded: after destruction, after an error, without caps") {
    zdd_test::require_root();
    std::vector<uint32_t> progs, maps;
    {
        BackendOptions opts;
        opts.max_ports = 2;
        BpfBackend b(opts);
        for (const auto& p : b.programs()) progs.push_back(p.id);
        for (const auto& m : b.maps()) maps.push_back(m.id);
        std::set<std::string> names;
        for (const auto& p : b.programs()) names.insert(p.name);
        for (const auto& m : b.maps()) names.insert(m.name);
        CHECK(names.count("zdd_set_state"));
        CHECK(names.count("zdd_iter_tcp"));
        CHECK(names.count("zdd_counts"));
        CHECK(names.count("zdd_sk_marks"));
        // while alive bpftool sees them (so the absence below means something)
        auto live_progs = live_ids("prog");
        for (uint32_t id : progs) CHECK(live_progs.count(id));

        b.watch(zdd_test::free_port());
        b.watch(zdd_test::free_port());
        // max_ports reached: the same words as the sock_diag backend (sock_diag_backend_test)
        CHECK_THROWS_WITH(
            b.watch(zdd_test::free_port()),
            Catch::Matches("cannot watch port [0-9]+: already 2 ports \\(max_ports\\)"));
    }
    REQUIRE(progs.size() >= 3);
    REQUIRE(maps.size() >= 4);
    // The kernel frees a detached program (and then its maps) after an RCU grace period.
    auto none_left = [](const std::string& kind, const std::vector<uint32_t>& ids) {
        auto live = live_ids(kind);
        return std::none_of(ids.begin(), ids.end(), [&](uint32_t id) { return live.count(id); });
    };
    CHECK(zdd_test::wait_until([&] { return none_left("prog", progs); }, 5s, 100ms));
    CHECK(zdd_test::wait_until([&] { return none_left("map", maps); }, 5s, 100ms));

    // Without capabilities: one clear line, no libbpf noise on stderr.
    int out[2], err[2];
    REQUIRE(::pipe(out) == 0);
    REQUIRE(::pipe(err) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(err[1], 2);
        __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2] = {};
        if (::syscall(SYS_capset, &hdr, data) != 0) ::_exit(3);
        int code = 1;
        std::string msg;
        try {
            BpfBackend b(BackendOptions{});
        } catch (const BackendError& e) {
            msg = e.what();
            code = 0;
        } catch (...) {
            code = 2;
        }
        (void)!::write(out[1], msg.data(), msg.size());
        ::_exit(code);
    }
    ::close(out[1]);
    ::close(err[1]);
    auto slurp = [](int fd) {
        std::string s;
        char buf[512];
        ssize_t n;
        while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, n);
        ::close(fd);
        return s;
    };
    std::string msg = slurp(out[0]);
    std::string noise = slurp(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    INFO("message: " << msg);
    CHECK(msg.rfind("BPF unavailable: ", 0) == 0);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(noise.empty());
}

TEST_CASE("counts() agrees with ss, listeners included, and makes no walk") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    CHECK(b.walks() == 0);
    PortCounts first = b.counts(port);  // not watched yet: one seeding walk
    CHECK(b.walks() == 1);
    CHECK(first.listeners == 1);
    CHECK(first.established == 0);

    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 30);
    for (int i = 0; i < 5; ++i) pairs[i].client.reset();  // CLOSE_WAIT here
    for (int i = 5; i < 9; ++i) REQUIRE(::shutdown(pairs[i].server.get(), SHUT_WR) == 0);
    REQUIRE(zdd_test::wait_until(
        [&] {
            return ss_count("close-wait", port) == 5 && ss_count("fin-wait-2", port) == 4 &&
                   zdd_test::ss_established(port) == 21;
        },
        3s));
    PortCounts pc;
    bool agree = zdd_test::wait_until(
        [&] {
            pc = b.counts(port);
            return pc.established == 21 && pc.close_wait == 5 && pc.closing == 4;
        },
        3s);
    CHECK(agree);
    CHECK(pc.established == zdd_test::ss_established(port));
    CHECK(pc.close_wait == ss_count("close-wait", port));
    CHECK(pc.closing == ss_count("fin-wait-2", port));
    CHECK(pc.listeners == ss_listeners(port));
    CHECK(pc.listeners == 1);
    CHECK(pc.active + pc.idle + pc.stuck == 0);  // classes need a walk
    for (int i = 0; i < 100; ++i) b.counts(port);
    CHECK(b.walks() == 1);  // counts are map lookups, whatever the number of reads

    // a snapshot walks once and agrees with the counts
    Snapshot s = b.snapshot({port});
    CHECK(s.walks == 2);
    CHECK(b.walks() == 2);
    CHECK(port_of(s, port).established == pc.established);
    CHECK(port_of(s, port).listeners == 1);
    CHECK(s.sockets.size() == 30);
}

TEST_CASE("a walk visits only the sockets of watched ports, and a one-shot snapshot walks once") {
    zdd_test::require_root();
    BpfStatsGuard stats;
    UniqueFd other = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t other_port = zdd_test::local_port(other.get());
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    auto noise = open_pairs(other.get(), "127.0.0.1", other_port, 500);  // unwatched
    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 20);

    BpfBackend b(BackendOptions{});
    // One-shot: the seeding walk's samples are the snapshot's; no second walk.
    Snapshot s = b.snapshot({port});
    CHECK(b.walks() == 1);
    CHECK(s.walks == 1);
    CHECK(port_of(s, port).established == 20);
    CHECK(port_of(s, port).listeners == 1);
    CHECK(s.sockets.size() == 20);
    uint64_t tcp_runs = run_cnt(b, "zdd_iter_tcp");
    CHECK(tcp_runs >= 1040);  // it did look at every socket (1040 + listeners + the end call)

    // Then the storage-map iterator: it runs for the 20 marked sockets only.
    uint64_t marks_before = run_cnt(b, "zdd_iter_marks");
    int visited = 0;
    std::set<uint16_t> local_ports;
    Snapshot out;
    b.walk(
        {port},
        [&](const drainmon::SocketSample& x) {
            ++visited;
            local_ports.insert(x.local.port);
        },
        out);
    CHECK(visited == 20);
    CHECK(local_ports == std::set<uint16_t>{port});
    CHECK(b.walks() == 2);
    CHECK(out.walks == 2);
    CHECK(out.sockets.empty());
    CHECK(port_of(out, port).established == 20);
    CHECK(port_of(out, port).listeners == 1);
    CHECK(port_of(out, port).active + port_of(out, port).idle + port_of(out, port).stuck == 20);
    uint64_t marks_runs = run_cnt(b, "zdd_iter_marks") - marks_before;
    INFO("zdd_iter_marks ran " << marks_runs << " times");
    CHECK(marks_runs >= 20);
    // the 20 connections' marks, the listener's and the end call: none of the 500 others
    CHECK(marks_runs <= 22);
    CHECK(run_cnt(b, "zdd_iter_tcp") == tcp_runs);

    // walk() and snapshot() give the same sockets
    Snapshot again = b.snapshot({port});
    CHECK(again.sockets.size() == 20);
    CHECK(port_of(again, port).active == port_of(out, port).active);
    CHECK(run_cnt(b, "zdd_iter_tcp") == tcp_runs);
    CHECK(b.walks() == 3);
}

TEST_CASE("the listener count follows listen and close, and a listener close wakes the waiter") {
    zdd_test::require_root();
    uint16_t port = zdd_test::free_port();
    BpfBackend b(BackendOptions{});
    b.watch(port);
    CHECK(b.counts(port).listeners == 0);

    UniqueFd l4 = zdd_test::tcp_listen("127.0.0.1", port);
    CHECK(b.counts(port).listeners == 1);
    UniqueFd l6 = zdd_test::tcp_listen("::1", port);
    CHECK(b.counts(port).listeners == 2);
    CHECK(b.counts(port).listeners == ss_listeners(port));
    {
        // a second monitor seeds the listeners that are already there
        BpfBackend late(BackendOptions{});
        CHECK(late.counts(port).listeners == 2);
    }
    // accepting connections does not look like a listener closing (each child starts as a
    // copy of the listener, LISTEN -> SYN_RECV)
    auto pairs = open_pairs(l4.get(), "127.0.0.1", port, 3);
    CHECK_FALSE(b.wait_close(100ms));
    CHECK(b.counts(port).listeners == 2);

    l4.reset();
    CHECK(b.wait_close(2s));  // woken by the listener's close
    CHECK(b.counts(port).listeners == 1);
    l6.reset();
    CHECK(b.wait_close(2s));
    PortCounts pc = b.counts(port);
    CHECK(pc.listeners == 0);
    CHECK(pc.established == 3);  // the accepted connections outlive their listener
    CHECK(b.walks() == 1);
    CHECK(b.underflow() == 0);

    // listen, close, listen again on the same socket number: never below zero
    for (int i = 0; i < 20; ++i) {
        UniqueFd l = zdd_test::tcp_listen("127.0.0.1", port);
        CHECK(b.counts(port).listeners == 1);
    }
    CHECK(b.counts(port).listeners == 0);
    CHECK(b.underflow() == 0);
}

TEST_CASE("an orphaned FIN_WAIT2 timewait sock is neither counted nor sampled") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    b.watch(port);
    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 5);
    // The app closes 3 while the peers stay: the kernel swaps each for a timewait sock in
    // substate FIN_WAIT2 (ss lists them as FIN-WAIT-2). The app holds nothing any more.
    for (int i = 0; i < 3; ++i) pairs[i].server.reset();
    REQUIRE(zdd_test::wait_until([&] { return ss_count("fin-wait-2", port) == 3; }, 3s));
    Snapshot s = settle(b, port, [](const PortCounts& p) { return p.established == 2; });
    CHECK(port_of(s, port).established == 2);
    CHECK(port_of(s, port).closing == 0);
    CHECK(b.counts(port).closing == 0);
    CHECK(s.sockets.size() == 2);
    for (const auto& x : s.sockets) CHECK(x.in.state == ZDD_TCP_ESTABLISHED);
    // a monitor loaded now sees the same (its seeding walk skips them too)
    BpfBackend late(BackendOptions{});
    Snapshot l = late.snapshot({port});
    CHECK(port_of(l, port).closing == 0);
    CHECK(l.sockets.size() == 2);
    CHECK(s.underflow == 0);
}

namespace {

std::string resident_path(const BpfBackend& b) {
    return "/sys/fs/bpf/zdd/net-" + std::to_string(b.netns());
}

bool path_exists(const std::string& p) {
    return ::access(p.c_str(), F_OK) == 0;
}

size_t loaded_named(const std::string& name) {  // programs of that name bpftool sees
    size_t n = 0;
    for (const auto& o : bpftool_json("prog show"))
        if (o.value("name", "") == name) ++n;
    return n;
}

}  // namespace

TEST_CASE("a pinned monitor is read by another instance without loading programs") {
    zdd_test::require_root();
    BpfStatsGuard stats;
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    auto pairs = open_pairs(lst.get(), "127.0.0.1", port, 10);
    std::vector<uint32_t> progs;
    std::string dir;
    {
        BpfBackend owner(BackendOptions{});
        owner.watch(port);
        REQUIRE(owner.pin());
        dir = resident_path(owner);
        CHECK(zdd_test::run_capture("stat -f -c %T /sys/fs/bpf") == "bpf_fs\n");  // mounted
        CHECK(path_exists(dir + "/counts"));
        for (const auto& p : owner.programs()) progs.push_back(p.id);
        {
            BpfBackend second(BackendOptions{});
            CHECK_FALSE(second.pin());  // one resident monitor per namespace
        }
        BackendOptions other;
        other.thresholds.idle_after_ms += 1;
        CHECK(BpfBackend::open_resident(other) == nullptr);  // it would classify differently

        size_t loaded = loaded_named("zdd_set_state");
        CHECK(loaded >= 1);  // the owner's, at least: bpftool sees ours
        auto reader = BpfBackend::open_resident(BackendOptions{});
        REQUIRE(reader != nullptr);
        CHECK(reader->resident());
        CHECK_FALSE(owner.resident());
        CHECK(loaded_named("zdd_set_state") <= loaded);  // nothing loaded (`second` may go)
        CHECK(reader->programs().empty());
        CHECK(reader->event_fd() == -1);

        PortCounts pc = reader->counts(port);  // watched by the owner: no walk at all
        CHECK(pc.established == 10);
        CHECK(pc.listeners == 1);
        CHECK(reader->walks() == 0);
        uint64_t seeding_runs = run_cnt(owner, "zdd_iter_tcp");
        Snapshot s = reader->snapshot({port});
        CHECK(s.walks == 1);
        CHECK(s.sockets.size() == 10);
        CHECK(port_of(s, port).established == 10);
        CHECK(run_cnt(owner, "zdd_iter_tcp") == seeding_runs);  // the marks walk only

        pairs[0].client.reset();  // CLOSE_WAIT here: the reader polls the counters
        CHECK(reader->wait_close(2s));
        CHECK(zdd_test::wait_until([&] { return reader->counts(port).close_wait == 1; }, 2s));
        CHECK_FALSE(reader->wait_close(100ms));

        // a port the resident monitor does not watch: the reader adds it, seeding once
        UniqueFd lst2 = zdd_test::tcp_listen("127.0.0.1", 0);
        uint16_t port2 = zdd_test::local_port(lst2.get());
        auto pairs2 = open_pairs(lst2.get(), "127.0.0.1", port2, 3);
        CHECK(reader->counts(port2).established == 3);
        CHECK(reader->walks() == 2);
        auto more = open_pairs(lst2.get(), "127.0.0.1", port2, 2);  // the tracepoint counts them
        CHECK(reader->counts(port2).established == 5);
        CHECK(reader->counts(port2).listeners == 1);
        CHECK(reader->walks() == 2);
        CHECK(reader->underflow() == 0);
    }
    // the pins went with the owner, and with them every program
    CHECK_FALSE(path_exists(dir));
    CHECK_FALSE(path_exists("/sys/fs/bpf/zdd"));
    CHECK(BpfBackend::open_resident(BackendOptions{}) == nullptr);
    REQUIRE(progs.size() >= 4);
    auto none_left = [&] {
        auto live = live_ids("prog");
        return std::none_of(progs.begin(), progs.end(),
                            [&](uint32_t id) { return live.count(id); });
    };
    CHECK(zdd_test::wait_until(none_left, 5s, 100ms));
}

TEST_CASE("a resident monitor whose owner died is removed, not read") {
    zdd_test::require_root();
    int ids[2];
    REQUIRE(::pipe(ids) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // pins, then dies without destructors: the pins stay behind
        ::close(ids[0]);
        try {
            BpfBackend b(BackendOptions{});
            b.watch(zdd_test::free_port());
            if (!b.pin()) ::_exit(2);
            for (const auto& p : b.programs())
                if (::write(ids[1], &p.id, sizeof p.id) != sizeof p.id) ::_exit(3);
            ::_exit(0);  // b is never destroyed
        } catch (...) {
            ::_exit(4);
        }
    }
    ::close(ids[1]);
    std::vector<uint32_t> progs;
    uint32_t id;
    while (::read(ids[0], &id, sizeof id) == sizeof id) progs.push_back(id);
    ::close(ids[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(progs.size() >= 4);
    std::string dir = "/sys/fs/bpf/zdd/net-" + std::to_string(BpfBackend(BackendOptions{}).netns());
    REQUIRE(path_exists(dir));
    auto live = live_ids("prog");
    CHECK(live.count(progs.front()));  // the pinned links keep them attached

    CHECK(BpfBackend::open_resident(BackendOptions{}) == nullptr);
    CHECK_FALSE(path_exists(dir));
    auto none_left = [&] {
        auto now = live_ids("prog");
        return std::none_of(progs.begin(), progs.end(), [&](uint32_t i) { return now.count(i); });
    };
    CHECK(zdd_test::wait_until(none_left, 5s, 100ms));
}

TEST_CASE("walks of the marks map while connections come and go stay exact at the end") {
    zdd_test::require_root();
    UniqueFd lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t port = zdd_test::local_port(lst.get());
    BpfBackend b(BackendOptions{});
    b.watch(port);
    auto kept = open_pairs(lst.get(), "127.0.0.1", port, 50);

    std::atomic<bool> done{false};
    std::string error;
    std::thread churn([&] {
        try {
            for (int i = 0; i < 3000; ++i) {  // bounded
                TcpPair p = zdd_test::tcp_pair(lst.get(), "127.0.0.1", port);
                if (i % 2) reset_client(p.client);
            }
        } catch (const std::exception& e) {
            error = e.what();
        }
        done = true;
    });
    int walks = 0;
    while (!done) {
        Snapshot s = b.snapshot({port});
        ++walks;
        CHECK(s.sockets.size() >= 50);  // the kept ones are always there
        CHECK(s.underflow == 0);
        for (const auto& x : s.sockets) CHECK(x.local.port == port);
    }
    churn.join();
    REQUIRE(error.empty());
    INFO("walks during the churn: " << walks);
    Snapshot s = settle(b, port, [](const PortCounts& p) {
        return p.established == 50 && p.close_wait == 0 && p.closing == 0;
    });
    CHECK(port_of(s, port).established == 50);
    CHECK(port_of(s, port).established == zdd_test::ss_established(port));
    CHECK(s.sockets.size() == 50);
    CHECK(s.underflow == 0);
    CHECK(b.tracked_sockets() == 50);
}
