// A connected loopback TCP pair (client end, accepted server end) and how to find the server
// end in a snapshot: shared by the backend tests.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "monitor/socket_sample.hpp"
#include "test_support.hpp"

namespace zdd_test {

struct TcpPair {
    UniqueFd client;
    UniqueFd server;
};

inline TcpPair tcp_pair(int listen_fd, const std::string& ip, uint16_t port) {
    TcpPair p;
    p.client = tcp_connect(ip, port);
    p.server = tcp_accept(listen_fd);
    return p;
}

// The sample of the server end of the connection whose client end is `client_fd`.
inline const drainmon::SocketSample* server_side(const drainmon::Snapshot& snap, int client_fd) {
    uint16_t client_port = local_port(client_fd);
    for (const auto& s : snap.sockets)
        if (s.remote.port == client_port) return &s;
    return nullptr;
}

}  // namespace zdd_test
