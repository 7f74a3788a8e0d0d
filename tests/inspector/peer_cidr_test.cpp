// --ignore-remote: CIDR parsing and matching, and the drain gate leaving those peers' connections
// out of every class while still listing them.
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "gate/drain_gate.hpp"
#include "gate/peer_cidr.hpp"

using namespace drainmon;

namespace {

SocketSample active_from(const std::string& ip, int family = AF_INET) {
    SocketSample s;
    s.local = {family, family == AF_INET ? "127.0.0.1" : "::1", 8080};
    s.remote = {family, ip, 40000};
    s.in.state = ZDD_TCP_ESTABLISHED;
    s.verdict.cls = ZDD_CLASS_ACTIVE;
    s.verdict.reason = ZDD_REASON_RECENT_DATA;
    return s;
}

Snapshot with(const std::vector<SocketSample>& socks) {
    Snapshot snap;
    PortCounts p;
    p.port = 8080;
    p.established = static_cast<int64_t>(socks.size());
    p.listeners = 1;
    snap.ports = {p};
    snap.sockets = socks;
    return snap;
}

}  // namespace

TEST_CASE("peer CIDR: parsing") {
    CHECK(parse_peer_cidr("10.0.0.0/8").text == "10.0.0.0/8");
    CHECK(parse_peer_cidr("127.0.0.2").prefix == 32);
    CHECK(parse_peer_cidr("fd00::/8").family == AF_INET6);
    CHECK(parse_peer_cidr("::1").prefix == 128);
    CHECK(parse_peer_cidr("0.0.0.0/0").prefix == 0);
    for (const char* bad : {"", "10.0.0.0/33", "10.0.0.1/8", "example.com", "10.0.0.0/", "::/129",
                            "10.0.0.0/8x", "10.0.0.0/-1"}) {
        INFO(bad);
        CHECK_THROWS_AS(parse_peer_cidr(bad), CidrError);
    }
    CHECK_THROWS_WITH(parse_peer_cidr("10.0.0.1/8"), Catch::Contains("host bits set"));
}

TEST_CASE("peer CIDR: matching") {
    auto net = parse_peer_cidr("10.1.0.0/16");
    CHECK(net.contains({AF_INET, "10.1.2.3", 1}));
    CHECK_FALSE(net.contains({AF_INET, "10.2.0.1", 1}));
    CHECK_FALSE(net.contains({AF_INET6, "::1", 1}));
    auto odd = parse_peer_cidr("192.168.1.128/25");
    CHECK(odd.contains({AF_INET, "192.168.1.200", 1}));
    CHECK_FALSE(odd.contains({AF_INET, "192.168.1.100", 1}));
    auto v6 = parse_peer_cidr("fd00:1::/32");
    CHECK(v6.contains({AF_INET6, "fd00:1:0:5::9", 1}));
    CHECK_FALSE(v6.contains({AF_INET6, "fd00:2::1", 1}));
    CHECK(parse_peer_cidr("0.0.0.0/0").contains({AF_INET, "8.8.8.8", 1}));
}

TEST_CASE("drain gate: connections from ignored peers neither hold nor count, and are listed") {
    const AppReport idle_app{};
    auto snap = with({active_from("10.9.0.7"), active_from("127.0.0.1")});
    GatePolicy plain;
    GateVerdict held = evaluate_gate(idle_app, snap, 8080, plain);
    CHECK(held.state == GateState::Wait);
    CHECK(held.figures.active == 2);

    GatePolicy p;
    p.ignore_remote = {parse_peer_cidr("10.9.0.0/16")};
    GateVerdict v = evaluate_gate(idle_app, snap, 8080, p);
    CHECK(v.state == GateState::Wait);  // the other one still holds it
    CHECK(v.figures.active == 1);
    CHECK(v.figures.ignored == 1);
    REQUIRE(v.ignored.size() == 1);
    CHECK(v.ignored[0].remote.ip == "10.9.0.7");
    CHECK(v.reason.find("1 connection from ignored peers (--ignore-remote) not counted") !=
          std::string::npos);
    CHECK(progress_line(v, 3).find("Ignored: 1") != std::string::npos);

    GateVerdict only = evaluate_gate(idle_app, with({active_from("10.9.0.7")}), 8080, p);
    CHECK(only.state == GateState::Drained);
    CHECK(only.figures.active == 0);
    CHECK(only.reason.find("ignored peers") != std::string::npos);
    // Without ignored peers the line stays the seed's.
    CHECK(progress_line(held, 3).find("Ignored") == std::string::npos);
}
