// The fallback monitor: netlink sock_diag (INET_DIAG with tcp_info), for machines where BPF
// cannot load. It sees the same per-socket facts as the BPF iterator, but no transitions, so
// state_changes stay 0 and wait_close() polls. Every dump is filtered in the kernel on the
// port (monitor/inet_diag), and tcp_info is asked for only where sockets are classified.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "monitor/backend.hpp"
#include "monitor/inet_diag.hpp"
#include "monitor/socket_destroy_events.hpp"

namespace drainmon {

class SockDiagBackend : public Backend {
  public:
    explicit SockDiagBackend(const BackendOptions& opts);  // throws BackendError

    std::string name() const override { return "sock_diag"; }
    // At most opts.max_ports ports, as on the BPF backend (same error).
    void watch(uint16_t port) override;
    Snapshot snapshot(const std::vector<uint16_t>& ports,
                      const std::vector<std::pair<Endpoint, Endpoint>>& exclude = {}) override;
    // One dump without tcp_info: no per-socket work beyond counting.
    PortCounts counts(uint16_t port) override;
    void walk(const std::vector<uint16_t>& ports,
              const std::function<void(const SocketSample&)>& visit, Snapshot& out) override;
    // Polls the watched ports (one count dump each per poll); true once a socket seen
    // ESTABLISHED or CLOSE_WAIT (by watch, snapshot or an earlier poll) is gone or has changed
    // state. Polls are paced across calls: at least 25 ms apart, and after each one a pause of
    // 40x the CPU the calling thread used since the previous poll began (polls and the
    // snapshots taken between them), so a drain loop on this backend stays near 2.5% of a core
    // whatever the socket count. Where the kernel multicasts socket destruction (sock_diag
    // destroy groups), a poll runs only after a watched port's socket was destroyed, or every
    // 2 s (a peer's close destroys nothing): idle connections then cost almost nothing. A zero
    // timeout polls at once.
    bool wait_close(std::chrono::milliseconds timeout) override;
    // Count dumps wait_close() made so far (what a test bounds while nothing changes).
    uint64_t polls() const { return polls_; }
    bool destroy_events() const { return events_.available(); }

  private:
    using Clock = std::chrono::steady_clock;
    // Fingerprints (hash of 4-tuple and state) of ESTABLISHED/CLOSE_WAIT sockets, sorted.
    using OpenSet = std::vector<uint64_t>;

    bool add_port(uint16_t port);  // false when already watched; throws beyond max_ports
    OpenSet open_sockets(uint16_t port);
    void remember(uint16_t port, OpenSet now);  // adds: a vanished socket stays to be reported
    void walk_ports(const std::vector<uint16_t>& ports,
                    const std::vector<std::pair<Endpoint, Endpoint>>& exclude,
                    const std::function<void(SocketSample&&)>& visit, Snapshot& out);

    BackendOptions opts_;
    InetDiag diag_;
    std::set<uint16_t> watched_;
    // What wait_close() compares against, per watched port: like a ring buffer, a close that
    // happens between two waits is still reported by the next one.
    std::map<uint16_t, OpenSet> seen_open_;
    Clock::time_point next_poll_{};  // wait_close() pacing, kept across calls
    std::chrono::nanoseconds poll_cpu_start_{};
    SocketDestroyEvents events_;
    bool hinted_ = false;  // a watched port's socket was destroyed since the last poll
    Clock::time_point last_poll_end_{};
    uint64_t polls_ = 0;  // this thread's CPU clock when the last poll began
};

}  // namespace drainmon
