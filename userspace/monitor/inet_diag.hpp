// The kernel's socket table through netlink INET_DIAG, filtered in the kernel: only the TCP
// states asked for, only the local port asked for (bytecode, as `ss '( sport = :P )'` sends),
// tcp_info only when asked. Rows are streamed to a callback, never collected.
#pragma once

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/tcp.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "common/unique_fd.hpp"

namespace drainmon {

// NLMSG_OK without the macro's signed/unsigned comparison (clang's -Wsign-compare warns on it).
inline bool nlmsg_ok(const nlmsghdr* h, int len) {
    return len >= static_cast<int>(sizeof(nlmsghdr)) && h->nlmsg_len >= sizeof(nlmsghdr) &&
           h->nlmsg_len <= static_cast<unsigned>(len);
}

struct DiagQuery {
    uint32_t states = 0;      // bit (1 << state) per TCP state wanted (ZDD_TCP_* numbering)
    uint16_t local_port = 0;  // 0: every port
    bool tcp_info = false;    // ask for INET_DIAG_INFO (per-socket classification only)
};

// One netlink socket; not thread-safe. Throws BackendError on any failure.
class InetDiag {
  public:
    InetDiag();

    // IPv4 and IPv6 rows matching `q`. `info` is null unless q.tcp_info; then it points at a
    // zero-padded copy (older kernels send a shorter tcp_info).
    using Visit = std::function<void(const inet_diag_msg& row, const tcp_info* info)>;
    void dump(const DiagQuery& q, const Visit& visit);

  private:
    // One request; false when the kernel refused it as unsupported (compat interface gone).
    bool request(const DiagQuery& q, uint16_t type, int family, const Visit& visit);

    UniqueFd nl_;
    uint32_t seq_ = 0;
    bool compat_ = true;  // one dump for both families (TCPDIAG_GETSOCK), as ss does
    std::vector<char> buf_;
};

}  // namespace drainmon
