// What the kernel multicasts when a TCP socket of this network namespace is destroyed
// (sock_diag groups SKNLGRP_INET_TCP_DESTROY and SKNLGRP_INET6_TCP_DESTROY): a wake-up hint that
// lets the sock_diag backend skip its dumps while nothing on a watched port goes away.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <vector>

#include "common/unique_fd.hpp"

namespace drainmon {

class SocketDestroyEvents {
  public:
    using Clock = std::chrono::steady_clock;

    SocketDestroyEvents();  // never throws: available() is false where the kernel refuses

    bool available() const { return bool(fd_); }
    // Until a socket whose local port is in `ports` is destroyed (true; also when the kernel
    // dropped notifications, which might have been one) or `until` passes (false).
    bool wait(const std::set<uint16_t>& ports, Clock::time_point until);

  private:
    bool drain(const std::set<uint16_t>& ports);  // reads what is queued; true on a hit

    UniqueFd fd_;
    std::vector<char> buf_;
};

}  // namespace drainmon
