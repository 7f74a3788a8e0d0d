// The fallback monitor: netlink sock_diag (INET_DIAG with tcp_info), for machines where BPF
// cannot load. It sees the same per-socket facts as the BPF iterator, but no transitions, so
// state_changes stay 0 and wait_close() polls.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "monitor/backend.hpp"
#include "common/unique_fd.hpp"

namespace drainmon {

class SockDiagBackend : public Backend {
  public:
    explicit SockDiagBackend(const BackendOptions& opts);  // throws BackendError

    std::string name() const override { return "sock_diag"; }
    void watch(uint16_t port) override;
    Snapshot snapshot(const std::vector<uint16_t>& ports,
                      const std::vector<std::pair<Endpoint, Endpoint>>& exclude = {}) override;
    // Polls the watched ports every ~25 ms; true once a socket seen ESTABLISHED or CLOSE_WAIT
    // (by watch, snapshot or the previous wait) is gone or has changed state.
    bool wait_close(std::chrono::milliseconds timeout) override;

  private:
    // Sockets of this namespace whose local port is `port` (IPv4 and IPv6), LISTEN included,
    // TIME_WAIT and SYN_RECV left out. Without `with_info` the tcp_info fields stay 0.
    std::vector<SocketSample> dump(uint16_t port, bool with_info);
    std::vector<SocketSample> dump_family(int family, uint16_t port, bool with_info);
    // ESTABLISHED/CLOSE_WAIT sockets of `port` now: "local|remote" -> state.
    std::map<std::string, uint32_t> open_sockets(uint16_t port);
    void remember(uint16_t port, const std::vector<SocketSample>& sockets);

    BackendOptions opts_;
    UniqueFd nl_;
    uint32_t seq_ = 0;
    std::set<uint16_t> watched_;
    // What wait_close() compares against, per watched port: like a ring buffer, a close that
    // happens between two waits is still reported by the next one.
    std::map<uint16_t, std::map<std::string, uint32_t>> seen_open_;
};

}  // namespace drainmon
