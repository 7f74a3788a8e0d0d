// --ignore-remote CIDR: peers (a monitoring agent, a sidecar) whose connections neither hold a
// drain nor count as active. IPv4 and IPv6 prefixes; an IPv4 prefix also matches IPv4-mapped
// IPv6 peers (shown as IPv4 by the monitors).
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "monitor/socket_sample.hpp"

namespace drainmon {

struct CidrError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

struct PeerCidr {
    int family = 0;                  // AF_INET or AF_INET6
    std::array<uint8_t, 16> addr{};  // network order; 4 bytes used for AF_INET
    int prefix = 0;                  // bits
    std::string text;                // as given, normalised: "10.0.0.0/8"

    bool contains(const Endpoint& peer) const;
};

// "10.1.2.0/24", "::1/128", "127.0.0.1" (a host: /32 or /128). Host bits must be zero.
// Throws CidrError with a one-line reason.
PeerCidr parse_peer_cidr(const std::string& text);

}  // namespace drainmon
