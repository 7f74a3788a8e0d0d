#include "monitor/sock_diag_backend.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace drainmon {

namespace {

constexpr uint32_t kCountedStates = (1u << ZDD_TCP_ESTABLISHED) | (1u << ZDD_TCP_FIN_WAIT1) |
                                    (1u << ZDD_TCP_FIN_WAIT2) | (1u << ZDD_TCP_CLOSE_WAIT) |
                                    (1u << ZDD_TCP_LAST_ACK) | (1u << ZDD_TCP_CLOSING) |
                                    (1u << ZDD_TCP_LISTEN);

constexpr auto kPollInterval = std::chrono::milliseconds(25);

bool is_closing(uint32_t st) {
    return st == ZDD_TCP_FIN_WAIT1 || st == ZDD_TCP_FIN_WAIT2 || st == ZDD_TCP_CLOSING ||
           st == ZDD_TCP_LAST_ACK;
}

bool is_open(uint32_t st) {
    return st == ZDD_TCP_ESTABLISHED || st == ZDD_TCP_CLOSE_WAIT;
}

std::string tuple_key(const SocketSample& s) {
    return s.local.str() + "|" + s.remote.str();
}

// Exactly what the BPF iterator reads from the tcp_sock, taken from tcp_info instead.
zdd_classify_input input_from(const inet_diag_msg& r, const tcp_info& ti) {
    zdd_classify_input in{};
    in.state = r.idiag_state;
    in.last_send_ms = ti.tcpi_last_data_sent;
    in.last_recv_ms = ti.tcpi_last_data_recv;
    in.last_ack_ms = ti.tcpi_last_ack_recv;
    in.send_queue = r.idiag_wqueue;  // write_seq - snd_una
    // write_seq - snd_una minus write_seq - snd_nxt = snd_nxt - snd_una: bytes in flight
    in.unacked_bytes =
        r.idiag_wqueue >= ti.tcpi_notsent_bytes ? r.idiag_wqueue - ti.tcpi_notsent_bytes : 0;
    in.recv_queue = r.idiag_rqueue;  // rcv_nxt - copied_seq
    in.retransmits = ti.tcpi_retransmits;
    in.backoff = ti.tcpi_backoff;
    in.probes = ti.tcpi_probes;
    in.snd_wnd = ti.tcpi_snd_wnd;
    return in;
}

}  // namespace

SockDiagBackend::SockDiagBackend(const BackendOptions& opts) : opts_(opts) {
    nl_.reset(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!nl_)
        throw BackendError(std::string("sock_diag: cannot open a NETLINK_SOCK_DIAG socket: ") +
                           std::strerror(errno));
}

std::vector<SocketSample> SockDiagBackend::dump_family(int family, uint16_t port, bool with_info) {
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = ++seq_;
    msg.req.sdiag_family = static_cast<__u8>(family);
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_ext = with_info ? static_cast<__u8>(1u << (INET_DIAG_INFO - 1)) : 0;
    msg.req.idiag_states = kCountedStates;
    // The kernel's dump skips sockets whose source port differs (inet_diag_dump_icsk), so no
    // bytecode filter is needed; rows are still checked below.
    msg.req.id.idiag_sport = htons(port);

    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(nl_.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0)
        throw BackendError(std::string("sock_diag: netlink request failed: ") +
                           std::strerror(errno));

    std::vector<SocketSample> out;
    std::vector<char> buf(64 * 1024);
    while (true) {
        ssize_t n = ::recv(nl_.get(), buf.data(), buf.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw BackendError(std::string("sock_diag: netlink read failed: ") +
                               std::strerror(errno));
        }
        if (n == 0) throw BackendError("sock_diag: netlink socket closed by the kernel");
        int len = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != msg.nlh.nlmsg_seq) continue;  // left over from an older dump
            if (h->nlmsg_type == NLMSG_DONE) return out;
            if (h->nlmsg_type == NLMSG_ERROR) {
                auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
                throw BackendError(std::string("sock_diag: kernel refused the dump: ") +
                                   std::strerror(-err->error));
            }
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
            const auto* r = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            if (ntohs(r->id.idiag_sport) != port) continue;

            tcp_info ti{};  // older kernels send a shorter one: the rest stays 0
            int alen = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*r)));
            for (auto* a = reinterpret_cast<rtattr*>(const_cast<inet_diag_msg*>(r) + 1);
                 RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
                if (a->rta_type == INET_DIAG_INFO)
                    std::memcpy(&ti, RTA_DATA(a), std::min<size_t>(RTA_PAYLOAD(a), sizeof ti));
            }
            SocketSample s;
            s.local = make_endpoint(r->idiag_family, r->id.idiag_src, ntohs(r->id.idiag_sport));
            s.remote = make_endpoint(r->idiag_family, r->id.idiag_dst, ntohs(r->id.idiag_dport));
            s.in = input_from(*r, ti);
            out.push_back(std::move(s));
        }
    }
}

std::vector<SocketSample> SockDiagBackend::dump(uint16_t port, bool with_info) {
    auto v4 = dump_family(AF_INET, port, with_info);
    auto v6 = dump_family(AF_INET6, port, with_info);
    v4.insert(v4.end(), std::make_move_iterator(v6.begin()), std::make_move_iterator(v6.end()));
    return v4;
}

std::map<std::string, uint32_t> SockDiagBackend::open_sockets(uint16_t port) {
    std::map<std::string, uint32_t> open;
    for (const auto& s : dump(port, false))
        if (is_open(s.in.state)) open.emplace(tuple_key(s), s.in.state);
    return open;
}

void SockDiagBackend::remember(uint16_t port, const std::vector<SocketSample>& sockets) {
    auto& seen = seen_open_[port];
    // Only add: a socket that vanished since the last wait is the event the next wait reports.
    for (const auto& s : sockets)
        if (is_open(s.in.state)) seen.emplace(tuple_key(s), s.in.state);
}

void SockDiagBackend::watch(uint16_t port) {
    if (!watched_.insert(port).second) return;
    remember(port, dump(port, false));
}

Snapshot SockDiagBackend::snapshot(const std::vector<uint16_t>& ports,
                                   const std::vector<std::pair<Endpoint, Endpoint>>& exclude) {
    std::set<std::string> excluded;
    for (const auto& [local, remote] : exclude)
        excluded.insert(canonical(local).str() + "|" + canonical(remote).str());

    Snapshot snap;
    snap.backend = name();
    std::set<uint16_t> done;
    for (uint16_t port : ports) {
        if (!done.insert(port).second) continue;
        watched_.insert(port);
        auto sockets = dump(port, true);
        remember(port, sockets);

        PortCounts pc;
        pc.port = port;
        for (auto& s : sockets) {
            if (s.in.state == ZDD_TCP_LISTEN) {
                ++pc.listeners;
                continue;
            }
            if (excluded.count(tuple_key(s))) continue;
            if (s.in.state == ZDD_TCP_ESTABLISHED)
                ++pc.established;
            else if (s.in.state == ZDD_TCP_CLOSE_WAIT)
                ++pc.close_wait;
            else if (is_closing(s.in.state))
                ++pc.closing;
            s.verdict = classify(s.in, opts_.thresholds);
            snap.sockets.push_back(std::move(s));
        }
        snap.ports.push_back(pc);
    }
    tally_classes(snap);
    return snap;
}

bool SockDiagBackend::wait_close(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + std::max(timeout, {});
    while (true) {
        bool closed = false;
        for (uint16_t port : watched_) {
            auto now_open = open_sockets(port);
            auto& seen = seen_open_[port];
            for (const auto& [key, state] : seen) {
                auto it = now_open.find(key);
                if (it == now_open.end() || it->second != state) {
                    closed = true;
                    break;
                }
            }
            seen = std::move(now_open);
        }
        if (closed) return true;
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(kPollInterval, deadline - now));
    }
}

}  // namespace drainmon
