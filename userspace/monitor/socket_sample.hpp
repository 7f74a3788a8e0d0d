// What a backend reports about one socket and one port: the shared vocabulary of libdrainmon.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

extern "C" {
#include "classify.h"
}

namespace drainmon {

// An address as printed to operators and scripts: "ip:port", IPv6 as "[addr]:port".
struct Endpoint {
    int family = 0;  // AF_INET or AF_INET6
    std::string ip;  // textual address, no brackets
    uint16_t port = 0;

    std::string str() const;
    bool operator==(const Endpoint&) const = default;
};

// From a raw address (4 bytes for AF_INET, 16 for AF_INET6, network order) and a host-order
// port. IPv4-mapped IPv6 (a dual-stack listener's IPv4 peers) is shown as IPv4, as operators
// read it.
Endpoint make_endpoint(int family, const void* addr, uint16_t port);
// The textual form make_endpoint() gives, so "::ffff:1.2.3.4" or "0:0::1" still match.
Endpoint canonical(const Endpoint& e);

struct SocketSample {
    Endpoint local;
    Endpoint remote;
    zdd_classify_input in{};  // state, ages, queues, counters: what the classifier reads
    zdd_verdict verdict{};    // class and reason, computed by the backend
};

// Per-port counts for the monitor's network namespace.
struct PortCounts {
    uint16_t port = 0;
    int64_t established = 0;
    int64_t close_wait = 0;
    int64_t closing = 0;
    int64_t listeners = 0;  // LISTEN sockets on the port at snapshot time (0: the app is gone)
    // By class, over ESTABLISHED/CLOSE_WAIT/closing sockets of the sample (filled by snapshot()).
    int64_t active = 0;
    int64_t idle = 0;
    int64_t stuck = 0;
    // Transitions into each TCP state seen since the monitor loaded (index: zdd_tcp_state).
    // The sock_diag backend cannot see transitions and leaves these 0.
    std::array<uint64_t, ZDD_TCP_MAX_STATES> state_changes{};
};

struct Snapshot {
    std::string backend;      // "bpf" or "sock_diag"
    uint64_t overflow = 0;    // sockets or ports a full map could not hold
    uint64_t underflow = 0;   // decrements below zero (a bug if ever > 0)
    bool incomplete = false;  // overflow > 0: counts may be low
    uint64_t walks = 0;       // the backend's per-socket passes so far (Backend::walks())
    std::vector<PortCounts> ports;
    std::vector<SocketSample> sockets;  // sockets whose local port is one of the ports
};

const char* state_name(uint32_t state);  // "ESTABLISHED", "CLOSE_WAIT", ...

// Classify with the shared C classifier (the same code the kernel runs).
zdd_verdict classify(const zdd_classify_input& in, const zdd_thresholds& t);

// Add one socket's class to its port's active/idle/stuck (closing adds nothing).
void count_class(PortCounts& p, const zdd_verdict& v);

// Fill active/idle/stuck of each port from the sockets of the snapshot.
void tally_classes(Snapshot& snap);

constexpr zdd_thresholds default_thresholds() {
    return zdd_thresholds{5000, 1000, 30000};
}

}  // namespace drainmon
