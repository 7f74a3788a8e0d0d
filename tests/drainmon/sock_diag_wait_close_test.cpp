// sock_diag wait_close() with many watched ports (a host with many services, or one zdd that
// watches a port per color for a while): it still wakes on a close of any watched port, the
// first and the last watched alike, and not on a close elsewhere. Behaviour only: how it polls
// is the backend's business. Needs no root.
#include <chrono>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "monitor/sock_diag_backend.hpp"
#include "tcp_pair.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using drainmon::SockDiagBackend;
using zdd_test::TcpPair;
using zdd_test::UniqueFd;

namespace {

constexpr int kPorts = 128;
constexpr int kPairsPerPort = 2;

struct Service {
    UniqueFd listener;
    uint16_t port = 0;
    std::vector<TcpPair> pairs;
};

void close_pair(TcpPair& p) {
    p.client.reset();
    p.server.reset();
}

}  // namespace

TEST_CASE("sock_diag wait_close wakes on a close among many watched ports") {
    SockDiagBackend b{drainmon::BackendOptions{}};
    std::vector<Service> services(kPorts);
    for (auto& s : services) {
        s.listener = zdd_test::tcp_listen("127.0.0.1", 0);
        s.port = zdd_test::local_port(s.listener.get());
        for (int i = 0; i < kPairsPerPort; ++i)
            s.pairs.push_back(zdd_test::tcp_pair(s.listener.get(), "127.0.0.1", s.port));
        b.watch(s.port);
    }
    // Not watched: its closes are none of wait_close's business.
    Service other;
    other.listener = zdd_test::tcp_listen("127.0.0.1", 0);
    other.port = zdd_test::local_port(other.listener.get());
    other.pairs.push_back(zdd_test::tcp_pair(other.listener.get(), "127.0.0.1", other.port));

    CHECK_FALSE(b.wait_close(200ms));  // nothing closed
    close_pair(other.pairs[0]);
    CHECK_FALSE(b.wait_close(300ms));  // a close on an unwatched port

    // A close during the wait (either order is a wake: one before the wait is reported by it).
    for (Service* s : {&services.back(), &services.front(), &services[kPorts / 2]}) {
        INFO("port " << s->port);
        std::thread closer([&] {
            std::this_thread::sleep_for(100ms);
            close_pair(s->pairs[0]);
        });
        const bool woke = b.wait_close(30s);
        closer.join();
        CHECK(woke);
        CHECK_FALSE(b.wait_close(100ms));  // consumed: nothing else closed
    }

    // Many closes at once across the ports: woken, and the snapshot agrees with the kernel.
    for (int i = 0; i < kPorts; i += 2) close_pair(services[i].pairs[1]);
    CHECK(b.wait_close(30s));
    const auto snap = b.snapshot({services[0].port, services[1].port});
    REQUIRE(snap.ports.size() == 2);
    for (const auto& pc : snap.ports) {
        INFO("port " << pc.port);
        CHECK(pc.established == (pc.port == services[0].port ? 0 : 2));
    }
}
