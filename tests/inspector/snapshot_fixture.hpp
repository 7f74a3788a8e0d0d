// A hand-built snapshot (one IPv4 and one IPv6 port) for the rendering tests.
#pragma once

#include <sys/socket.h>

#include "monitor/socket_sample.hpp"

namespace zdd_test {

inline drainmon::Snapshot fixture_snapshot() {
    using namespace drainmon;
    Snapshot snap;
    snap.backend = "bpf";
    snap.overflow = 3;
    snap.underflow = 0;
    snap.incomplete = true;
    snap.walks = 4;
    PortCounts a;
    a.port = 8080;
    a.established = 2;
    a.close_wait = 1;
    a.closing = 1;
    a.listeners = 1;
    a.state_changes[ZDD_TCP_ESTABLISHED] = 7;
    a.state_changes[ZDD_TCP_CLOSE_WAIT] = 2;
    PortCounts b;
    b.port = 8081;
    b.established = 1;
    b.listeners = 2;
    snap.ports = {a, b};

    auto add = [&](Endpoint local, Endpoint remote, zdd_classify_input in) {
        SocketSample s;
        s.local = std::move(local);
        s.remote = std::move(remote);
        s.in = in;
        s.verdict = classify(in, default_thresholds());
        snap.sockets.push_back(s);
    };
    // Active stream: data sent 100 ms ago, request 9 s ago.
    add({AF_INET, "127.0.0.1", 8080}, {AF_INET, "127.0.0.1", 50001},
        {ZDD_TCP_ESTABLISHED, 100, 9000, 100, 0, 0, 0, 0, 0, 0, 65535});
    // Idle keepalive: answered promptly 20 s ago.
    add({AF_INET, "127.0.0.1", 8080}, {AF_INET, "127.0.0.1", 50002},
        {ZDD_TCP_ESTABLISHED, 20000, 20010, 20000, 0, 0, 0, 0, 0, 0, 65535});
    // Stuck CLOSE_WAIT.
    add({AF_INET, "127.0.0.1", 8080}, {AF_INET, "127.0.0.1", 50003},
        {ZDD_TCP_CLOSE_WAIT, 40000, 40000, 40000, 0, 0, 0, 0, 0, 0, 65535});
    // Closing.
    add({AF_INET, "127.0.0.1", 8080}, {AF_INET, "127.0.0.1", 50004},
        {ZDD_TCP_FIN_WAIT1, 10, 10, 10, 0, 0, 0, 0, 0, 0, 65535});
    // IPv6, retransmitting with bytes in flight.
    add({AF_INET6, "::1", 8081}, {AF_INET6, "::1", 50005},
        {ZDD_TCP_ESTABLISHED, 31000, 60000, 45000, 1200, 1200, 7, 4, 5, 0, 1024});
    tally_classes(snap);
    return snap;
}

}  // namespace zdd_test
