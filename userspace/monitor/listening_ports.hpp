// The LISTEN sockets of this network namespace, from a LISTEN-only sock_diag dump: the kernel
// walks only its listening table, so the cost does not grow with the host's connections (as
// parsing /proc/net/tcp did). One check for drain-inspector (what to watch when no --port is
// given) and for zdd (is a color's port taken, and by which process).
#pragma once

#include <cstdint>
#include <vector>

namespace drainmon {

struct Listener {
    int family = 0;  // AF_INET or AF_INET6
    uint16_t port = 0;
    uint64_t inode = 0;  // the socket's inode: /proc/<pid>/fd/* links to "socket:[inode]"
};

// LISTEN sockets (IPv4 and IPv6) on `port`, filtered in the kernel. Throws BackendError when
// sock_diag cannot answer.
std::vector<Listener> listeners(uint16_t port);
// True when a LISTEN socket has local port `port`.
bool port_listening(uint16_t port);
// Every local port with a LISTEN socket: sorted, unique.
std::vector<uint16_t> listening_ports();

}  // namespace drainmon
