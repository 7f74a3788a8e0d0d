#include "monitor/inet_diag.hpp"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "monitor/backend.hpp"

namespace drainmon {

namespace {

// `sport >= P && sport <= P`: the two port ops every kernel knows (S_EQ came later). A failed
// test jumps past the end (len + 4), which rejects the socket.
struct PortFilter {
    rtattr rta;
    inet_diag_bc_op op[4];
};

PortFilter port_filter(uint16_t port) {
    PortFilter f{};
    f.rta.rta_type = INET_DIAG_REQ_BYTECODE;
    f.rta.rta_len = RTA_LENGTH(sizeof f.op);
    f.op[0] = {INET_DIAG_BC_S_GE, 8, 20};
    f.op[1] = {0, 0, port};
    f.op[2] = {INET_DIAG_BC_S_LE, 8, 12};
    f.op[3] = {0, 0, port};
    return f;
}

template <class Req>
struct Request {
    nlmsghdr nlh;
    Req req;
    PortFilter filter;
};

[[noreturn]] void fail(const std::string& what) {
    throw BackendError("sock_diag: " + what + ": " + std::strerror(errno));
}

}  // namespace

InetDiag::InetDiag() : buf_(64 * 1024) {
    nl_.reset(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!nl_) fail("cannot open a NETLINK_SOCK_DIAG socket");
}

void InetDiag::dump(const DiagQuery& q, const Visit& visit) {
    if (compat_ && request(q, TCPDIAG_GETSOCK, AF_UNSPEC, visit)) return;
    compat_ = false;
    request(q, SOCK_DIAG_BY_FAMILY, AF_INET, visit);
    request(q, SOCK_DIAG_BY_FAMILY, AF_INET6, visit);
}

bool InetDiag::request(const DiagQuery& q, uint16_t type, int family, const Visit& visit) {
    const bool filtered = q.local_port != 0;
    const __u8 ext = q.tcp_info ? static_cast<__u8>(1u << (INET_DIAG_INFO - 1)) : 0;
    // The compat request (inet_diag_req) makes the kernel walk its table once for both
    // families; SOCK_DIAG_BY_FAMILY (inet_diag_req_v2) needs one walk per family.
    Request<inet_diag_req> compat{};
    Request<inet_diag_req_v2> v2{};
    nlmsghdr* nlh;
    size_t len;
    if (type == TCPDIAG_GETSOCK) {
        compat.req.idiag_family = AF_INET;  // ignored: the compat dump covers both families
        compat.req.idiag_ext = ext;
        compat.req.idiag_states = q.states;
        compat.req.id.idiag_sport = htons(q.local_port);  // the kernel's own pre-check
        compat.filter = port_filter(q.local_port);
        nlh = &compat.nlh;
        len = filtered ? sizeof compat : offsetof(Request<inet_diag_req>, filter);
    } else {
        v2.req.sdiag_family = static_cast<__u8>(family);
        v2.req.sdiag_protocol = IPPROTO_TCP;
        v2.req.idiag_ext = ext;
        v2.req.idiag_states = q.states;
        v2.req.id.idiag_sport = htons(q.local_port);
        v2.filter = port_filter(q.local_port);
        nlh = &v2.nlh;
        len = filtered ? sizeof v2 : offsetof(Request<inet_diag_req_v2>, filter);
    }
    nlh->nlmsg_len = static_cast<__u32>(len);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = ++seq_;

    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(nl_.get(), nlh, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
        fail("netlink request failed");

    bool first = true;
    while (true) {
        ssize_t n = ::recv(nl_.get(), buf_.data(), buf_.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("netlink read failed");
        }
        if (n == 0) throw BackendError("sock_diag: netlink socket closed by the kernel");
        int left = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf_.data()); nlmsg_ok(h, left);
             h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq != nlh->nlmsg_seq) continue;  // left over from an older dump
            if (h->nlmsg_type == NLMSG_DONE) return true;
            if (h->nlmsg_type == NLMSG_ERROR) {
                int err = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
                if (first && type == TCPDIAG_GETSOCK &&
                    (err == EINVAL || err == ENOENT || err == EOPNOTSUPP))
                    return false;
                errno = err;
                fail("kernel refused the dump");
            }
            first = false;
            if (h->nlmsg_type != type) continue;
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
            const auto* r = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            // A timewait sock (what the kernel keeps of an orphaned FIN_WAIT2, reported in that
            // state with the TIME_WAIT timer, 3) is no connection anyone holds, and the BPF
            // monitor cannot see it: both backends leave it out (docs/design.md).
            if (r->idiag_timer == 3) continue;
            if (!q.tcp_info) {
                visit(*r, nullptr);
                continue;
            }
            tcp_info ti{};
            int alen = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*r)));
            for (auto* a = reinterpret_cast<const rtattr*>(r + 1); RTA_OK(a, alen);
                 a = RTA_NEXT(a, alen))
                if (a->rta_type == INET_DIAG_INFO)
                    std::memcpy(&ti, RTA_DATA(a), std::min<size_t>(RTA_PAYLOAD(a), sizeof ti));
            visit(*r, &ti);
        }
    }
}

}  // namespace drainmon
