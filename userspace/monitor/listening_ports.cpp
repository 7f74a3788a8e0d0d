#include "monitor/listening_ports.hpp"

#include <arpa/inet.h>

#include <set>

#include "monitor/inet_diag.hpp"

extern "C" {
#include "classify.h"
}

namespace drainmon {

namespace {

constexpr uint32_t kListen = 1u << ZDD_TCP_LISTEN;

}  // namespace

std::vector<Listener> listeners(uint16_t port) {
    std::vector<Listener> out;
    InetDiag diag;
    diag.dump({kListen, port, false}, [&](const inet_diag_msg& r, const tcp_info*) {
        out.push_back({r.idiag_family, ntohs(r.id.idiag_sport), r.idiag_inode});
    });
    return out;
}

bool port_listening(uint16_t port) {
    return !listeners(port).empty();
}

std::vector<uint16_t> listening_ports() {
    std::set<uint16_t> ports;
    InetDiag diag;
    diag.dump({kListen, 0, false}, [&](const inet_diag_msg& r, const tcp_info*) {
        ports.insert(ntohs(r.id.idiag_sport));
    });
    return {ports.begin(), ports.end()};
}

}  // namespace drainmon
