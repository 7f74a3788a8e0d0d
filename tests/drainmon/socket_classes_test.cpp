// Each row of docs/design.md's class table made for real on loopback, and classified the same way
// by both backends: the server end of each connection is checked, with short thresholds.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>
#include <thread>

#include <catch2/catch.hpp>

#include "monitor/backend.hpp"
#include "tcp_pair.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using drainmon::Backend;
using drainmon::BackendKind;
using drainmon::SocketSample;
using zdd_test::local_port;
using zdd_test::tcp_listen;
using zdd_test::TcpPair;
using zdd_test::UniqueFd;

namespace {

constexpr zdd_thresholds kThresholds{600, 200, 1500};  // idle_after, push_gap, stuck_after

std::unique_ptr<Backend> make(BackendKind kind) {
    zdd_test::require_root();
    drainmon::BackendOptions o;
    o.thresholds = kThresholds;
    return drainmon::make_backend(kind, o);
}

const char* kind_name(BackendKind k) {
    return k == BackendKind::Bpf ? "bpf" : "sock_diag";
}

std::string describe(const SocketSample& s) {
    std::ostringstream o;
    o << s.local.str() << " -> " << s.remote.str() << " " << drainmon::state_name(s.in.state) << " "
      << zdd_class_name(s.verdict.cls) << "/" << zdd_reason_name(s.verdict.reason)
      << " last_send=" << s.in.last_send_ms << " last_recv=" << s.in.last_recv_ms
      << " last_ack=" << s.in.last_ack_ms << " sendq=" << s.in.send_queue
      << " unacked=" << s.in.unacked_bytes << " recvq=" << s.in.recv_queue
      << " retrans=" << s.in.retransmits << " backoff=" << s.in.backoff << " probes=" << s.in.probes
      << " snd_wnd=" << s.in.snd_wnd;
    return o.str();
}

// The server end (local port P) of the connection from client port C.
std::optional<SocketSample> server_end(Backend& b, uint16_t P, uint16_t C) {
    for (auto& s : b.snapshot({P}).sockets)
        if (s.remote.port == C) return s;
    return std::nullopt;
}

// Poll until the server end has the wanted class and reason (bounded); the last sample.
std::optional<SocketSample> await_class(Backend& b, uint16_t P, uint16_t C, uint32_t cls,
                                        uint32_t reason, std::chrono::milliseconds timeout) {
    std::optional<SocketSample> last;
    zdd_test::wait_until(
        [&] {
            last = server_end(b, P, C);
            return last && last->verdict.cls == cls && last->verdict.reason == reason;
        },
        timeout, 50ms);
    return last;
}

// Some rows hold only while a socket is young: a sample taken on a stalled (busy) machine may
// rightly read older. `take` makes a fresh situation and samples it; a sample whose own ages put
// it outside the row's window (`in_window` false) is not evidence either way, so it is taken
// again (bounded). Returns the first in-window sample, or the last one taken (with a failure).
std::optional<SocketSample> sample_in_window(
    const std::function<std::optional<SocketSample>()>& take,
    const std::function<bool(const SocketSample&)>& in_window, int attempts = 20) {
    std::optional<SocketSample> s;
    for (int i = 0; i < attempts; ++i) {
        s = take();
        if (s && in_window(*s)) return s;
    }
    FAIL_CHECK("no sample inside the window in " << attempts << " attempts"
                                                 << (s ? ": last " + describe(*s) : ""));
    return s;
}

#define CHECK_CLASS(sample, cls_, reason_)                                                       \
    do {                                                                                         \
        REQUIRE(sample);                                                                         \
        INFO(describe(*sample));                                                                 \
        CHECK(zdd_class_name(sample->verdict.cls) == std::string(zdd_class_name(cls_)));         \
        CHECK(zdd_reason_name(sample->verdict.reason) == std::string(zdd_reason_name(reason_))); \
    } while (0)

void send_all(int fd, const std::string& s) {
    REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
}
void recv_exact(int fd, size_t n) {
    std::string buf(n, '\0');
    size_t got = 0;
    while (got < n) {
        ssize_t r = ::read(fd, buf.data() + got, n - got);
        REQUIRE(r > 0);
        got += static_cast<size_t>(r);
    }
}

const std::string kRequest = "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n";
const std::string kAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// One exchange as HTTP keepalive makes it: a request, answered at once.
void request_answered(const TcpPair& p) {
    send_all(p.client.get(), kRequest);
    recv_exact(p.server.get(), kRequest.size());
    send_all(p.server.get(), kAnswer);
    recv_exact(p.client.get(), kAnswer.size());
}

const std::string kEvent = "data: tick\n\n";

// A client whose receive buffer is tiny, so a server that writes fills its window fast.
UniqueFd small_buffer_client(uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    int sz = 4096;
    REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

// An nft table of our own that drops the client's packets to the server; deleted on scope
// exit whatever happened.
class NftDrop {
  public:
    NftDrop(uint16_t client_port, uint16_t server_port)
        : table_("zdd_classes_" + std::to_string(::getpid())) {
        int st = -1;
        auto out = zdd_test::run_capture(
            "nft add table inet " + table_ + " && nft add chain inet " + table_ +
                " out '{ type filter hook output priority 0; }' && nft add rule inet " + table_ +
                " out tcp sport " + std::to_string(client_port) + " tcp dport " +
                std::to_string(server_port) + " drop 2>&1",
            &st);
        if (st != 0) {
            zdd_test::run_capture("nft delete table inet " + table_ + " 2>/dev/null");
            FAIL("nft rule: " << out);
        }
    }
    ~NftDrop() { zdd_test::run_capture("nft delete table inet " + table_ + " 2>/dev/null"); }
    NftDrop(const NftDrop&) = delete;
    NftDrop& operator=(const NftDrop&) = delete;

  private:
    std::string table_;
};

struct Fixture {
    std::unique_ptr<Backend> b;
    UniqueFd lst;
    uint16_t P = 0;
    explicit Fixture(BackendKind kind) : b(make(kind)) {
        lst = tcp_listen("127.0.0.1", 0);
        P = local_port(lst.get());
        b->watch(P);
    }
    TcpPair pair() { return zdd_test::tcp_pair(lst.get(), "127.0.0.1", P); }
};

}  // namespace

TEST_CASE("idle keepalive: a request answered at once, then silence") {
    auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    INFO("backend " << kind_name(kind));
    Fixture f(kind);
    auto p = f.pair();
    uint16_t C = local_port(p.client.get());

    // Just after the exchange (both directions younger than idle_after): recent data.
    auto s = sample_in_window(
        [&] {
            request_answered(p);
            return server_end(*f.b, f.P, C);
        },
        [](const SocketSample& x) {
            return x.in.last_send_ms < kThresholds.idle_after_ms &&
                   x.in.last_recv_ms < kThresholds.idle_after_ms;
        });
    CHECK_CLASS(s, ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA);
    s = await_class(*f.b, f.P, C, ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE, 30s);
    CHECK_CLASS(s, ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE);
    CHECK(s->in.last_send_ms >= kThresholds.idle_after_ms);
    CHECK(s->in.recv_queue == 0);
    CHECK(s->in.unacked_bytes == 0);
}

TEST_CASE("active stream: the server sends an event every 200 ms") {
    auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    INFO("backend " << kind_name(kind));
    Fixture f(kind);
    auto p = f.pair();
    uint16_t C = local_port(p.client.get());
    request_answered(p);

    // Samples count once the request is past idle_after (only the events keep it active) and
    // when taken while the last event is younger than idle_after (a stall between the send and
    // the sample would rightly read otherwise).
    int checked = 0;
    for (int i = 0; i < 100 && checked < 7; ++i) {  // events 200 ms apart, bounded
        std::this_thread::sleep_for(200ms);
        send_all(p.server.get(), kEvent);
        recv_exact(p.client.get(), kEvent.size());
        auto s = server_end(*f.b, f.P, C);
        REQUIRE(s);
        if (s->in.last_recv_ms < kThresholds.idle_after_ms ||
            s->in.last_send_ms >= kThresholds.idle_after_ms)
            continue;
        CHECK_CLASS(s, ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA);
        ++checked;
    }
    CHECK(checked == 7);
}

TEST_CASE("quiet stream: an answer, then an event every ~5x push_gap") {
    auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    INFO("backend " << kind_name(kind));
    Fixture f(kind);
    auto p = f.pair();
    uint16_t C = local_port(p.client.get());
    request_answered(p);

    // Before the first event it looks like a keepalive: only the app knows better.
    auto s = await_class(*f.b, f.P, C, ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE, 30s);
    CHECK_CLASS(s, ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE);

    // Each event, once older than idle_after, reads as a server push (the client has been
    // silent push_gap longer than the server), until the next event.
    for (int i = 0; i < 2; ++i) {
        send_all(p.server.get(), kEvent);
        recv_exact(p.client.get(), kEvent.size());
        s = await_class(*f.b, f.P, C, ZDD_CLASS_ACTIVE, ZDD_REASON_SERVER_PUSH, 30s);
        CHECK_CLASS(s, ZDD_CLASS_ACTIVE, ZDD_REASON_SERVER_PUSH);
        CHECK(s->in.last_send_ms >= kThresholds.idle_after_ms);
        CHECK(s->in.last_recv_ms - s->in.last_send_ms >= kThresholds.push_gap_ms);
    }
}

TEST_CASE("pending request: the client sent, the server is silent") {
    auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    INFO("backend " << kind_name(kind));
    Fixture f(kind);
    auto p = f.pair();
    uint16_t C = local_port(p.client.get());
    std::this_thread::sleep_for(100ms);  // the request comes after the handshake
    send_all(p.client.get(), kRequest);

    SECTION("the app read it and works on it: request_pending") {
        recv_exact(p.server.get(), kRequest.size());
        auto s = await_class(*f.b, f.P, C, ZDD_CLASS_ACTIVE, ZDD_REASON_REQUEST_PENDING, 30s);
        CHECK_CLASS(s, ZDD_CLASS_ACTIVE, ZDD_REASON_REQUEST_PENDING);
        CHECK(s->in.last_recv_ms >= kThresholds.idle_after_ms);
    }
    SECTION("the app has not read it yet: queued") {
        auto s = await_class(*f.b, f.P, C, ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED, 30s);
        CHECK_CLASS(s, ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED);
        CHECK(s->in.recv_queue == kRequest.size());
    }
}

TEST_CASE("zero window: a client that never reads while the server writes") {
    auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    INFO("backend " << kind_name(kind));
    Fixture f(kind);
    auto client = small_buffer_client(f.P);
    auto server = zdd_test::tcp_accept(f.lst.get());
    uint16_t C = local_port(client.get());
    int sz = 4096;
    REQUIRE(::setsockopt(server.get(), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
    REQUIRE(::fcntl(server.get(), F_SETFL, O_NONBLOCK) == 0);
    std::string chunk(1024, 'z');
    size_t sent = 0;
    // Write until the socket refuses (peer window closed, send buffer full); bounded.
    for (int i = 0; i < 100000; ++i) {
        ssize_t n = ::write(server.get(), chunk.data(), chunk.size());
        if (n < 0) break;
        sent += static_cast<size_t>(n);
    }
    REQUIRE(sent > 0);
    REQUIRE(sent < 100000u * 1024u);

    auto s = await_class(*f.b, f.P, C, ZDD_CLASS_STUCK, ZDD_REASON_ZERO_WINDOW, 30s);
    CHECK_CLASS(s, ZDD_CLASS_STUCK, ZDD_REASON_ZERO_WINDOW);
    CHECK(s->in.snd_wnd == 0);
    CHECK(s->in.send_queue > 0);
}

TEST_CASE("retransmitting: nft drops the client's packets to the server") {
    auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    INFO("backend " << kind_name(kind));
    Fixture f(kind);
    auto p = f.pair();
    uint16_t C = local_port(p.client.get());
    std::optional<SocketSample> s;
    {
        NftDrop drop(C, f.P);
        send_all(p.server.get(), kEvent);  // never acked: the ACKs are dropped
        s = await_class(*f.b, f.P, C, ZDD_CLASS_STUCK, ZDD_REASON_RETRANSMITTING, 30s);
    }
    CHECK_CLASS(s, ZDD_CLASS_STUCK, ZDD_REASON_RETRANSMITTING);
    CHECK(s->in.unacked_bytes == kEvent.size());
    CHECK(s->in.retransmits + s->in.backoff > 0);
    CHECK(s->in.last_ack_ms >= kThresholds.stuck_after_ms);
}

TEST_CASE("CLOSE_WAIT: the client closes, the server never does") {
    auto kind = GENERATE(BackendKind::Bpf, BackendKind::SockDiag);
    INFO("backend " << kind_name(kind));
    Fixture f(kind);
    // Young (younger than stuck_after): not stuck yet. Each attempt is a fresh connection.
    std::vector<TcpPair> pairs;
    uint16_t C = 0;
    auto s = sample_in_window(
        [&] {
            pairs.push_back(f.pair());
            C = local_port(pairs.back().client.get());
            pairs.back().client.reset();
            std::optional<SocketSample> x;
            zdd_test::wait_until(
                [&] {
                    x = server_end(*f.b, f.P, C);
                    return x && x->in.state == ZDD_TCP_CLOSE_WAIT;
                },
                30s, 10ms);
            return x;
        },
        [](const SocketSample& x) {
            return x.in.state == ZDD_TCP_CLOSE_WAIT &&
                   x.in.last_ack_ms < kThresholds.stuck_after_ms &&
                   x.in.last_send_ms < kThresholds.stuck_after_ms;
        });
    CHECK_CLASS(s, ZDD_CLASS_ACTIVE, ZDD_REASON_OTHER);
    CHECK(s->in.state == ZDD_TCP_CLOSE_WAIT);
    s = await_class(*f.b, f.P, C, ZDD_CLASS_STUCK, ZDD_REASON_CLOSE_WAIT, 30s);
    CHECK_CLASS(s, ZDD_CLASS_STUCK, ZDD_REASON_CLOSE_WAIT);
    CHECK(s->in.state == ZDD_TCP_CLOSE_WAIT);
}
