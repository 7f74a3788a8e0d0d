#include "monitor/sock_diag_backend.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <iterator>
#include <thread>

#include <time.h>

namespace drainmon {

namespace {

constexpr uint32_t kOpenStates = (1u << ZDD_TCP_ESTABLISHED) | (1u << ZDD_TCP_CLOSE_WAIT);
constexpr uint32_t kCountedStates = kOpenStates | (1u << ZDD_TCP_FIN_WAIT1) |
                                    (1u << ZDD_TCP_FIN_WAIT2) | (1u << ZDD_TCP_LAST_ACK) |
                                    (1u << ZDD_TCP_CLOSING) | (1u << ZDD_TCP_LISTEN);

// wait_close() pacing: never more often than this, and the pause after a poll is kPollCostRatio
// times the CPU this thread used since the previous poll began (that poll, and the snapshots a
// drain loop took on its wake): the waiter stays under ~1/kPollCostRatio of a core whatever the
// socket count (a dump walks the host's whole table, not only the port's sockets). CPU time,
// not wall time, so a busy machine does not stretch the pauses.
constexpr auto kMinPollInterval = std::chrono::milliseconds(25);
constexpr int kPollCostRatio = 40;
// ...but at least every 2 s (the ss loop's order), beyond ~50 ms of CPU per cycle (hosts with
// hundreds of thousands of sockets) and if the caller did unrelated work between two waits.
constexpr auto kMaxPollInterval = std::chrono::seconds(2);
// With the kernel's destroy notifications, a poll runs when a socket of a watched port was
// destroyed, else only this often: a peer's close (ESTABLISHED -> CLOSE_WAIT) destroys nothing
// and changes no count; a third of the ss loop's rate keeps a long quiet drain cheap.
constexpr auto kQuietPollInterval = std::chrono::seconds(3);

std::chrono::nanoseconds thread_cpu() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

bool is_closing(uint32_t st) {
    return st == ZDD_TCP_FIN_WAIT1 || st == ZDD_TCP_FIN_WAIT2 || st == ZDD_TCP_CLOSING ||
           st == ZDD_TCP_LAST_ACK;
}

bool is_open(uint32_t st) {
    return st == ZDD_TCP_ESTABLISHED || st == ZDD_TCP_CLOSE_WAIT;
}

// A socket's identity and state in 64 bits (splitmix64 steps), without building strings.
uint64_t fingerprint(const inet_diag_msg& r) {
    auto mix = [](uint64_t h, uint64_t v) {
        h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
        return h ^ (h >> 31);
    };
    uint64_t h = mix(r.idiag_family, (uint64_t{r.idiag_state} << 32) |
                                         (uint64_t{r.id.idiag_sport} << 16) | r.id.idiag_dport);
    for (int i = 0; i < 4; ++i) h = mix(h, (uint64_t{r.id.idiag_src[i]} << 32) | r.id.idiag_dst[i]);
    return h;
}

SocketSample sample_from(const inet_diag_msg& r) {
    SocketSample s;
    s.local = make_endpoint(r.idiag_family, r.id.idiag_src, ntohs(r.id.idiag_sport));
    s.remote = make_endpoint(r.idiag_family, r.id.idiag_dst, ntohs(r.id.idiag_dport));
    s.in.state = r.idiag_state;
    return s;
}

// Exactly what the BPF iterator reads from the tcp_sock, taken from tcp_info instead.
void fill_input(zdd_classify_input& in, const inet_diag_msg& r, const tcp_info& ti) {
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
}

void count_state(PortCounts& pc, uint32_t state) {
    if (state == ZDD_TCP_LISTEN)
        ++pc.listeners;
    else if (state == ZDD_TCP_ESTABLISHED)
        ++pc.established;
    else if (state == ZDD_TCP_CLOSE_WAIT)
        ++pc.close_wait;
    else if (is_closing(state))
        ++pc.closing;
}

}  // namespace

SockDiagBackend::SockDiagBackend(const BackendOptions& opts) : opts_(opts) {
    if (opts.max_ports == 0) throw BackendError("sock_diag backend: max_ports must be at least 1");
}

SockDiagBackend::OpenSet SockDiagBackend::open_sockets(uint16_t port) {
    OpenSet open;
    diag_.dump({kOpenStates, port, false},
               [&](const inet_diag_msg& r, const tcp_info*) { open.push_back(fingerprint(r)); });
    std::sort(open.begin(), open.end());
    return open;
}

void SockDiagBackend::remember(uint16_t port, OpenSet now) {
    auto& seen = seen_open_[port];
    OpenSet merged;
    merged.reserve(seen.size() + now.size());
    std::set_union(seen.begin(), seen.end(), now.begin(), now.end(), std::back_inserter(merged));
    seen = std::move(merged);
}

bool SockDiagBackend::add_port(uint16_t port) {
    if (watched_.count(port)) return false;
    if (watched_.size() >= opts_.max_ports)
        throw BackendError("cannot watch port " + std::to_string(port) + ": already " +
                           std::to_string(opts_.max_ports) + " ports (max_ports)");
    watched_.insert(port);
    return true;
}

void SockDiagBackend::watch(uint16_t port) {
    if (add_port(port)) remember(port, open_sockets(port));
}

PortCounts SockDiagBackend::counts(uint16_t port) {
    watch(port);
    PortCounts pc;
    pc.port = port;
    diag_.dump({kCountedStates, port, false},
               [&](const inet_diag_msg& r, const tcp_info*) { count_state(pc, r.idiag_state); });
    return pc;
}

void SockDiagBackend::walk_ports(const std::vector<uint16_t>& ports,
                                 const std::vector<std::pair<Endpoint, Endpoint>>& exclude,
                                 const std::function<void(SocketSample&&)>& visit, Snapshot& out) {
    std::vector<std::pair<Endpoint, Endpoint>> excluded;
    std::set<uint16_t> excluded_remote_ports;  // a cheap first test before comparing strings
    for (const auto& [local, remote] : exclude) {
        excluded.emplace_back(canonical(local), canonical(remote));
        excluded_remote_ports.insert(remote.port);
    }
    auto is_excluded = [&](const SocketSample& s) {
        if (!excluded_remote_ports.count(s.remote.port)) return false;
        return std::any_of(excluded.begin(), excluded.end(), [&](const auto& e) {
            return e.first == s.local && e.second == s.remote;
        });
    };

    out = Snapshot{};
    out.backend = name();
    ++walks_;
    std::set<uint16_t> done;
    for (uint16_t port : ports) {
        if (!done.insert(port).second) continue;
        add_port(port);  // this walk seeds it
        PortCounts pc;
        pc.port = port;
        OpenSet open;
        diag_.dump({kCountedStates, port, true}, [&](const inet_diag_msg& r, const tcp_info* ti) {
            if (r.idiag_state == ZDD_TCP_LISTEN) {
                ++pc.listeners;
                return;
            }
            if (is_open(r.idiag_state)) open.push_back(fingerprint(r));
            SocketSample s = sample_from(r);
            if (is_excluded(s)) return;
            fill_input(s.in, r, *ti);
            s.verdict = classify(s.in, opts_.thresholds);
            count_state(pc, s.in.state);
            count_class(pc, s.verdict);
            visit(std::move(s));
        });
        std::sort(open.begin(), open.end());
        remember(port, std::move(open));
        out.ports.push_back(pc);
    }
    out.walks = walks_;
}

Snapshot SockDiagBackend::snapshot(const std::vector<uint16_t>& ports,
                                   const std::vector<std::pair<Endpoint, Endpoint>>& exclude) {
    Snapshot snap;
    std::vector<SocketSample> sockets;
    walk_ports(
        ports, exclude, [&](SocketSample&& s) { sockets.push_back(std::move(s)); }, snap);
    snap.sockets = std::move(sockets);
    return snap;
}

void SockDiagBackend::walk(const std::vector<uint16_t>& ports,
                           const std::function<void(const SocketSample&)>& visit, Snapshot& out) {
    walk_ports(
        ports, {}, [&](SocketSample&& s) { visit(s); }, out);
}

bool SockDiagBackend::wait_close(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + std::max(timeout, {});
    bool poll_now = timeout.count() <= 0;
    for (;;) {
        auto now = Clock::now();
        if (watched_.empty()) {
            std::this_thread::sleep_until(deadline);  // nothing to wake on
            return false;
        }
        if (!poll_now && events_.available() && !hinted_) {
            // Nothing destroyed on a watched port yet: wait for that, or the quiet poll.
            const auto quiet = last_poll_end_ + kQuietPollInterval;
            if (now < quiet) {
                hinted_ = events_.wait(watched_, std::min(quiet, deadline));
                now = Clock::now();
                if (!hinted_ && now < quiet) return false;  // the deadline came first
            }
        }
        if (!poll_now && now < next_poll_) {
            if (next_poll_ > deadline) {
                std::this_thread::sleep_until(deadline);
                return false;
            }
            std::this_thread::sleep_until(next_poll_);
        }
        poll_now = false;
        hinted_ = false;
        ++polls_;

        const auto poll_start = thread_cpu();
        const auto since = poll_cpu_start_.count() ? poll_cpu_start_ : poll_start;
        poll_cpu_start_ = poll_start;
        bool closed = false;
        for (uint16_t port : watched_) {
            OpenSet now_open = open_sockets(port);
            auto& seen = seen_open_[port];
            if (!std::includes(now_open.begin(), now_open.end(), seen.begin(), seen.end()))
                closed = true;
            seen = std::move(now_open);
        }
        const auto end = Clock::now();
        last_poll_end_ = end;
        const auto used = std::max(thread_cpu() - since, std::chrono::nanoseconds(0));
        next_poll_ = end + std::clamp<Clock::duration>(kPollCostRatio * used, kMinPollInterval,
                                                       kMaxPollInterval);
        if (closed) return true;
        if (end >= deadline) return false;
    }
}

}  // namespace drainmon
