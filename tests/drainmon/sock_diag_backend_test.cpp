// The sock_diag backend on real loopback sockets: what it counts, what it samples, and that
// wait_close() wakes on a close. Needs no root: sock_diag dumps this namespace's sockets.
#include "monitor/sock_diag_backend.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "tcp_pair.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using drainmon::Endpoint;
using drainmon::Snapshot;
using drainmon::SockDiagBackend;
using zdd_test::local_port;
using zdd_test::server_side;
using zdd_test::tcp_listen;
using zdd_test::tcp_pair;
using zdd_test::TcpPair;

namespace {

const drainmon::PortCounts& counts(const Snapshot& s, uint16_t port) {
    for (const auto& p : s.ports)
        if (p.port == port) return p;
    FAIL("port " << port << " missing from the snapshot");
    throw std::logic_error("unreachable");
}

}  // namespace

using zdd_test::ss_count;

TEST_CASE("sock_diag counts the server ends of a port and samples them") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    auto lst = tcp_listen("127.0.0.1", 0);
    uint16_t P = local_port(lst.get());
    auto other = tcp_listen("127.0.0.1", 0);
    uint16_t Q = local_port(other.get());

    std::vector<TcpPair> pairs;
    std::set<uint16_t> client_ports;
    for (int i = 0; i < 10; ++i) {
        pairs.push_back(tcp_pair(lst.get(), "127.0.0.1", P));
        client_ports.insert(local_port(pairs.back().client.get()));
    }
    std::vector<TcpPair> others;
    for (int i = 0; i < 3; ++i) others.push_back(tcp_pair(other.get(), "127.0.0.1", Q));

    // Pair 0: a request the server has not read. Pair 1: an answer the client has read.
    std::string req(1000, 'q'), ans(500, 'a');
    REQUIRE(::write(pairs[0].client.get(), req.data(), req.size()) == 1000);
    REQUIRE(::write(pairs[1].server.get(), ans.data(), ans.size()) == 500);
    char buf[600];
    REQUIRE(::read(pairs[1].client.get(), buf, sizeof buf) == 500);

    Snapshot snap;
    REQUIRE(zdd_test::wait_until(
        [&] {
            snap = b.snapshot({P});
            auto* s0 = server_side(snap, pairs[0].client.get());
            auto* s1 = server_side(snap, pairs[1].client.get());
            return s0 && s0->in.recv_queue == 1000 && s1 && s1->in.unacked_bytes == 0;
        },
        2s));

    CHECK(snap.backend == "sock_diag");
    CHECK(snap.overflow == 0);
    CHECK(snap.underflow == 0);
    CHECK_FALSE(snap.incomplete);
    REQUIRE(snap.ports.size() == 1);
    const auto& pc = counts(snap, P);
    CHECK(pc.established == 10);
    CHECK(pc.established == zdd_test::ss_established(P));
    CHECK(pc.close_wait == 0);
    CHECK(pc.closing == 0);
    CHECK(pc.listeners == 1);
    CHECK(pc.active == 10);  // everything just moved: recent data under the 5 s default
    CHECK(pc.idle == 0);
    CHECK(pc.stuck == 0);
    for (auto n : pc.state_changes) CHECK(n == 0);  // sock_diag cannot see transitions

    REQUIRE(snap.sockets.size() == 10);
    std::set<uint16_t> remotes;
    for (const auto& s : snap.sockets) {
        CHECK(s.local.str() == "127.0.0.1:" + std::to_string(P));
        CHECK(s.remote.ip == "127.0.0.1");
        CHECK(s.in.state == ZDD_TCP_ESTABLISHED);
        CHECK(s.in.snd_wnd > 0);
        CHECK(s.in.retransmits == 0);
        CHECK(s.verdict.cls == ZDD_CLASS_ACTIVE);
        CHECK(s.verdict.reason == ZDD_REASON_RECENT_DATA);
        remotes.insert(s.remote.port);
    }
    CHECK(remotes == client_ports);  // server ends only: the client ends live on their own ports

    const auto* s1 = server_side(snap, pairs[1].client.get());
    CHECK(s1->in.send_queue == 0);
    CHECK(s1->in.recv_queue == 0);
    CHECK(s1->in.last_send_ms < 2000);

    auto both = b.snapshot({P, Q, P});  // duplicates collapse
    REQUIRE(both.ports.size() == 2);
    CHECK(both.ports[0].port == P);
    CHECK(both.ports[1].port == Q);
    CHECK(counts(both, Q).established == 3);
    CHECK(both.sockets.size() == 13);

    // A client end is a socket of its own ephemeral port.
    uint16_t C = local_port(pairs[2].client.get());
    auto c = b.snapshot({C});
    CHECK(counts(c, C).established == 1);
    CHECK(counts(c, C).listeners == 0);
}

TEST_CASE("sock_diag counts IPv6 and IPv4 sockets of the same port") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    auto l6 = tcp_listen("::1", 0);
    uint16_t P = local_port(l6.get());
    auto l4 = tcp_listen("127.0.0.1", P);
    std::vector<TcpPair> pairs;
    for (int i = 0; i < 3; ++i) pairs.push_back(tcp_pair(l6.get(), "::1", P));
    for (int i = 0; i < 2; ++i) pairs.push_back(tcp_pair(l4.get(), "127.0.0.1", P));

    auto snap = b.snapshot({P});
    CHECK(counts(snap, P).established == 5);
    CHECK(counts(snap, P).listeners == 2);
    auto* s = server_side(snap, pairs[0].client.get());
    REQUIRE(s);
    CHECK(s->local.family == AF_INET6);
    CHECK(s->local.ip == "::1");
    CHECK(s->local.str() == "[::1]:" + std::to_string(P));
    CHECK(s->remote.str() == "[::1]:" + std::to_string(local_port(pairs[0].client.get())));
    auto* s4 = server_side(snap, pairs[4].client.get());
    REQUIRE(s4);
    CHECK(s4->local.family == AF_INET);
}

TEST_CASE("sock_diag: CLOSE_WAIT, closing and TIME_WAIT") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    auto lst = tcp_listen("127.0.0.1", 0);
    uint16_t P = local_port(lst.get());

    SECTION("the peer closes first: CLOSE_WAIT, young so active/other") {
        auto p = tcp_pair(lst.get(), "127.0.0.1", P);
        p.client.reset();
        Snapshot snap;
        REQUIRE(zdd_test::wait_until(
            [&] {
                snap = b.snapshot({P});
                return counts(snap, P).close_wait == 1;
            },
            2s));
        CHECK(counts(snap, P).established == 0);
        REQUIRE(snap.sockets.size() == 1);
        CHECK(snap.sockets[0].in.state == ZDD_TCP_CLOSE_WAIT);
        CHECK(snap.sockets[0].verdict.cls == ZDD_CLASS_ACTIVE);
        CHECK(snap.sockets[0].verdict.reason == ZDD_REASON_OTHER);
    }
    SECTION("the server shuts down first: FIN_WAIT2 is closing until the app lets go") {
        auto p = tcp_pair(lst.get(), "127.0.0.1", P);
        REQUIRE(::shutdown(p.server.get(), SHUT_WR) == 0);
        Snapshot snap;
        REQUIRE(zdd_test::wait_until(
            [&] {
                snap = b.snapshot({P});
                return snap.sockets.size() == 1 && snap.sockets[0].in.state == ZDD_TCP_FIN_WAIT2;
            },
            2s));
        CHECK(counts(snap, P).closing == 1);
        CHECK(counts(snap, P).established == 0);
        CHECK(snap.sockets[0].verdict.cls == ZDD_CLASS_CLOSING);
        CHECK(snap.sockets[0].verdict.reason == ZDD_REASON_CLOSING);
        CHECK(counts(snap, P).active + counts(snap, P).idle + counts(snap, P).stuck == 0);

        // Closed, the kernel turns the orphaned FIN_WAIT2 into a timewait socket that ss still
        // lists as FIN-WAIT-2 (no tcp_info any more). Nobody holds it and the BPF monitor
        // cannot see it: left out of counts and samples, as on the BPF backend.
        p.server.reset();
        REQUIRE(zdd_test::wait_until(
            [&] {
                return zdd_test::run_capture(
                           "ss -Htno state fin-wait-2 '( sport = :" + std::to_string(P) + " )'")
                           .find("timewait") != std::string::npos;
            },
            2s));
        snap = b.snapshot({P});
        CHECK(counts(snap, P).closing == 0);
        CHECK(b.counts(P).closing == 0);
        CHECK(snap.sockets.empty());

        p.client.reset();  // its FIN moves the timewait socket to TIME_WAIT: never counted
        REQUIRE(zdd_test::wait_until([&] { return ss_count("time-wait", P) == 1; }, 2s));
        snap = b.snapshot({P});
        CHECK(counts(snap, P).established == 0);
        CHECK(counts(snap, P).close_wait == 0);
        CHECK(counts(snap, P).closing == 0);
        CHECK(snap.sockets.empty());
    }
}

TEST_CASE("sock_diag counts LISTEN sockets") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    auto a = tcp_listen("127.0.0.1", 0, 16, true);
    uint16_t P = local_port(a.get());
    auto c = tcp_listen("127.0.0.1", P, 16, true);
    CHECK(counts(b.snapshot({P}), P).listeners == 2);
    a.reset();
    CHECK(counts(b.snapshot({P}), P).listeners == 1);
    c.reset();
    auto gone = b.snapshot({P});
    CHECK(counts(gone, P).listeners == 0);
    CHECK(gone.sockets.empty());
}

TEST_CASE("sock_diag leaves excluded 4-tuples out of counts and samples") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    auto lst = tcp_listen("127.0.0.1", 0);
    uint16_t P = local_port(lst.get());
    std::vector<TcpPair> pairs;
    for (int i = 0; i < 3; ++i) pairs.push_back(tcp_pair(lst.get(), "127.0.0.1", P));
    uint16_t c1 = local_port(pairs[1].client.get());
    uint16_t c2 = local_port(pairs[2].client.get());

    Endpoint server{AF_INET, "127.0.0.1", P};
    auto snap = b.snapshot({P}, {{server, Endpoint{AF_INET, "127.0.0.1", c1}}});
    CHECK(counts(snap, P).established == 2);
    CHECK(snap.sockets.size() == 2);
    CHECK(server_side(snap, pairs[1].client.get()) == nullptr);

    // The same tuple written as IPv4-mapped IPv6 still matches.
    Endpoint mapped_server{AF_INET6, "::ffff:127.0.0.1", P};
    Endpoint mapped_client{AF_INET6, "::ffff:127.0.0.1", c2};
    snap = b.snapshot({P}, {{mapped_server, mapped_client}});
    CHECK(counts(snap, P).established == 2);
    CHECK(server_side(snap, pairs[2].client.get()) == nullptr);

    CHECK(counts(b.snapshot({P}), P).established == 3);
}

TEST_CASE("sock_diag wait_close wakes when a watched connection closes") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    CHECK_FALSE(b.wait_close(50ms));  // nothing watched: nothing to wake on

    auto lst = tcp_listen("127.0.0.1", 0);
    uint16_t P = local_port(lst.get());
    auto p1 = tcp_pair(lst.get(), "127.0.0.1", P);
    auto p2 = tcp_pair(lst.get(), "127.0.0.1", P);
    b.watch(P);
    CHECK_FALSE(b.wait_close(100ms));  // nothing closed

    SECTION("a close during the wait") {
        std::thread closer([&] {
            std::this_thread::sleep_for(200ms);
            p1.client.reset();
            p1.server.reset();
        });
        bool woke = b.wait_close(10s);
        closer.join();
        CHECK(woke);
        CHECK(counts(b.snapshot({P}), P).established == 1);
    }
    SECTION("a close between two waits is reported by the next one") {
        p2.client.reset();  // ESTABLISHED -> CLOSE_WAIT leaves ESTABLISHED
        REQUIRE(zdd_test::wait_until([&] { return ss_count("close-wait", P) == 1; }, 2s));
        CHECK(b.wait_close(0ms));
        CHECK_FALSE(b.wait_close(100ms));  // consumed
    }
    SECTION("connections opened after watch() are tracked once a snapshot saw them") {
        auto p3 = tcp_pair(lst.get(), "127.0.0.1", P);
        CHECK(counts(b.snapshot({P}), P).established == 3);
        p3.client.reset();
        p3.server.reset();
        CHECK(b.wait_close(10s));
    }
}

TEST_CASE("sock_diag's kernel filter returns only the port's sockets") {
    auto lst = tcp_listen("127.0.0.1", 0);
    uint16_t P = local_port(lst.get());
    auto busy = tcp_listen("127.0.0.1", 0);
    uint16_t Q = local_port(busy.get());
    std::vector<TcpPair> mine, others;
    for (int i = 0; i < 5; ++i) mine.push_back(tcp_pair(lst.get(), "127.0.0.1", P));
    for (int i = 0; i < 300; ++i) others.push_back(tcp_pair(busy.get(), "127.0.0.1", Q));

    // Rows as the kernel sends them: no check in userspace hides a filter that does not work.
    drainmon::InetDiag diag;
    constexpr uint32_t kEverything = 0xfff;
    int rows = 0, listen = 0;
    diag.dump({kEverything, P, false}, [&](const inet_diag_msg& r, const tcp_info* ti) {
        CHECK(ntohs(r.id.idiag_sport) == P);
        CHECK(ti == nullptr);  // not asked for
        ++rows;
        if (r.idiag_state == ZDD_TCP_LISTEN) ++listen;
    });
    CHECK(rows == 6);
    CHECK(listen == 1);

    int with_info = 0;
    diag.dump({1u << ZDD_TCP_ESTABLISHED, P, true},
              [&](const inet_diag_msg& r, const tcp_info* ti) {
                  REQUIRE(ti != nullptr);
                  CHECK(ti->tcpi_state == r.idiag_state);
                  ++with_info;
              });
    CHECK(with_info == 5);

    // Without a port, every matching socket of the namespace: the other port's too.
    int all_q = 0;
    diag.dump({1u << ZDD_TCP_ESTABLISHED, 0, false}, [&](const inet_diag_msg& r, const tcp_info*) {
        if (ntohs(r.id.idiag_sport) == Q) ++all_q;
    });
    CHECK(all_q == 300);

    SockDiagBackend b{drainmon::BackendOptions{}};
    auto snap = b.snapshot({P});
    CHECK(counts(snap, P).established == 5);
    CHECK(snap.sockets.size() == 5);
    for (const auto& s : snap.sockets) CHECK(s.local.port == P);
}

TEST_CASE("sock_diag counts() matches ss without a per-socket walk") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    auto l6 = tcp_listen("::1", 0);
    uint16_t P = local_port(l6.get());
    auto l4 = tcp_listen("127.0.0.1", P);
    std::vector<TcpPair> pairs;
    for (int i = 0; i < 20; ++i) pairs.push_back(tcp_pair(l4.get(), "127.0.0.1", P));
    for (int i = 0; i < 10; ++i) pairs.push_back(tcp_pair(l6.get(), "::1", P));
    for (int i = 0; i < 4; ++i) pairs[i].client.reset();       // server ends to CLOSE_WAIT
    REQUIRE(::shutdown(pairs[4].server.get(), SHUT_WR) == 0);  // FIN_WAIT2: closing
    REQUIRE(zdd_test::wait_until(
        [&] { return ss_count("close-wait", P) == 4 && ss_count("fin-wait-2", P) == 1; }, 2s));

    auto walks = b.walks();
    auto pc = b.counts(P);
    CHECK(b.walks() == walks);  // counting is not a walk
    CHECK(pc.port == P);
    CHECK(pc.established == 25);
    CHECK(pc.established == ss_count("established", P));
    CHECK(pc.close_wait == ss_count("close-wait", P));
    CHECK(pc.closing == 1);
    CHECK(pc.listeners == 2);
    CHECK(pc.listeners == ss_count("listening", P));
    CHECK(pc.active + pc.idle + pc.stuck == 0);  // classes need a walk

    auto snap = b.snapshot({P});
    CHECK(b.walks() == walks + 1);
    CHECK(snap.walks == b.walks());
    const auto& sc = counts(snap, P);
    CHECK(sc.established == pc.established);
    CHECK(sc.close_wait == pc.close_wait);
    CHECK(sc.closing == pc.closing);
    CHECK(sc.listeners == pc.listeners);
}

TEST_CASE("sock_diag walk() streams what snapshot() collects") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    auto lst = tcp_listen("127.0.0.1", 0);
    uint16_t P = local_port(lst.get());
    std::vector<TcpPair> pairs;
    for (int i = 0; i < 7; ++i) pairs.push_back(tcp_pair(lst.get(), "127.0.0.1", P));

    auto snap = b.snapshot({P});
    Snapshot out;
    std::set<uint16_t> remotes;
    auto walks = b.walks();
    b.walk(
        {P, P}, [&](const drainmon::SocketSample& s) { remotes.insert(s.remote.port); }, out);
    CHECK(b.walks() == walks + 1);
    CHECK(out.sockets.empty());
    REQUIRE(out.ports.size() == 1);
    CHECK(out.ports[0].established == 7);
    CHECK(out.ports[0].active == counts(snap, P).active);
    CHECK(out.ports[0].active + out.ports[0].idle + out.ports[0].stuck == 7);
    CHECK(remotes.size() == 7);
    for (const auto& s : snap.sockets) CHECK(remotes.count(s.remote.port) == 1);
}

TEST_CASE("sock_diag watches at most max_ports ports, like the BPF backend") {
    drainmon::BackendOptions opts;
    opts.max_ports = 2;
    SockDiagBackend b{opts};
    b.watch(1001);
    b.watch(1002);
    b.watch(1001);  // already watched: no new entry
    try {
        b.watch(1003);
        FAIL("a third port was accepted");
    } catch (const drainmon::BackendError& e) {
        CHECK(std::string(e.what()) == "cannot watch port 1003: already 2 ports (max_ports)");
    }
    CHECK_THROWS_AS(b.snapshot({1004}), drainmon::BackendError);
    CHECK_THROWS_AS(b.counts(1005), drainmon::BackendError);
    CHECK(b.snapshot({1001, 1002}).ports.size() == 2);

    opts.max_ports = 0;
    CHECK_THROWS_AS(SockDiagBackend{opts}, drainmon::BackendError);
}

TEST_CASE("sock_diag: while nothing closes, wait_close does not keep dumping") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    REQUIRE(b.destroy_events());  // every kernel zdd supports multicasts socket destruction
    auto lst = tcp_listen("127.0.0.1", 0);
    uint16_t P = local_port(lst.get());
    std::vector<TcpPair> pairs;
    for (int i = 0; i < 3; ++i) pairs.push_back(tcp_pair(lst.get(), "127.0.0.1", P));
    // Churn on another port: destroyed sockets that are not ours wake nothing.
    auto other = tcp_listen("127.0.0.1", 0);
    uint16_t Q = local_port(other.get());

    b.watch(P);
    CHECK_FALSE(b.wait_close(0ms));  // the first poll
    const auto polls = b.polls();
    for (int i = 0; i < 10; ++i) {
        auto p = tcp_pair(other.get(), "127.0.0.1", Q);  // closed at once, both ends
        CHECK_FALSE(b.wait_close(100ms));
    }
    // About 1 s without a change: at most the 3 s quiet poll, not one per 25 ms.
    CHECK(b.polls() - polls <= 1);

    pairs[1].server.reset();  // destroyed once the peer has acknowledged the FIN
    pairs[1].client.reset();
    CHECK(b.wait_close(10s));
    CHECK(counts(b.snapshot({P}), P).established == 2);
}
