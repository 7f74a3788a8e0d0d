// The local TCP ports that have a LISTEN socket in this network namespace: what
// drain-inspector watches when no --port is given.
#pragma once

#include <cstdint>
#include <vector>

namespace drainmon {

// Sorted, unique; IPv4 and IPv6 (/proc/self/net/tcp{,6} are this namespace's tables).
std::vector<uint16_t> listening_ports();

}  // namespace drainmon
