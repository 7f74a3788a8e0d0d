#include "monitor/bpf_backend.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "drainmon.skel.h"
#include "common/unique_fd.hpp"

extern "C" {
#include "drainmon.h"
}

namespace drainmon {

namespace {

struct SkelDeleter {
    void operator()(drainmon_bpf* s) const { drainmon_bpf__destroy(s); }
};
struct LinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct RingDeleter {
    void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};

// libbpf prints to stderr by default; operators get one line from us instead, and the details
// stay available with debug logging.
int libbpf_to_spdlog(enum libbpf_print_level, const char* fmt, va_list args) {
    char buf[1024];
    std::vsnprintf(buf, sizeof buf, fmt, args);
    std::string line(buf);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    spdlog::debug("libbpf: {}", line);
    return 0;
}

[[noreturn]] void unavailable(const std::string& what, int err) {
    std::string msg = "BPF unavailable: " + what + ": " + std::strerror(err);
    if (err == EPERM || err == EACCES) msg += " (needs root, or CAP_BPF and CAP_PERFMON)";
    throw BackendError(msg);
}

uint32_t current_netns() {
    // thread-self: the iterator walks the namespace of the thread that reads it
    struct stat st {};
    if (::stat("/proc/thread-self/ns/net", &st) != 0 && ::stat("/proc/self/ns/net", &st) != 0)
        unavailable("reading /proc/self/ns/net", errno);
    return static_cast<uint32_t>(st.st_ino);
}

// libbpf fills CONFIG_HZ from one of these; without either it refuses to load unless given
// the value, so we pass 0 and measure HZ ourselves.
bool kernel_config_readable() {
    utsname u{};
    ::uname(&u);
    std::string boot = std::string("/boot/config-") + u.release;
    return ::access(boot.c_str(), R_OK) == 0 || ::access("/proc/config.gz", R_OK) == 0;
}

uint32_t round_up_pow2_pages(uint32_t bytes) {
    uint32_t page = static_cast<uint32_t>(::sysconf(_SC_PAGESIZE));
    uint32_t n = page;
    while (n < bytes && n < (1u << 30)) n <<= 1;
    return n;
}

std::string tuple_key(const Endpoint& local, const Endpoint& remote) {
    return local.str() + "|" + remote.str();
}

}  // namespace

struct BpfBackend::Impl {
    BackendOptions opts;
    uint32_t netns = 0;
    uint32_t hz = 0;
    // Declaration order is teardown order reversed: ring buffer, links, then the object.
    std::unique_ptr<drainmon_bpf, SkelDeleter> skel;
    std::unique_ptr<bpf_link, LinkDeleter> state_link;
    std::unique_ptr<bpf_link, LinkDeleter> iter_link;   // iter/tcp: every socket (seeding)
    std::unique_ptr<bpf_link, LinkDeleter> marks_link;  // iter/bpf_sk_storage_map: marked ones
    std::unique_ptr<ring_buffer, RingDeleter> ring;
    std::set<uint16_t> watched;
    bool woke = false;
    std::vector<char> read_buf = std::vector<char>(1 << 16);  // one walk's only buffer

    static int on_event(void* ctx, void* data, size_t size) {
        auto* self = static_cast<Impl*>(ctx);
        if (size < sizeof(zdd_close_event)) return 0;
        zdd_close_event e;
        std::memcpy(&e, data, sizeof e);
        if (e.netns == self->netns && self->watched.count(e.lport)) self->woke = true;
        return 0;
    }

    uint64_t jiffies() const {
        zdd_jiffies_ctx c{};
        LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = &c, .ctx_size_in = sizeof c);
        // syscall programs write their ctx back into ctx_in
        int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.zdd_jiffies), &run);
        if (err) unavailable("running zdd_jiffies", -err);
        return c.jiffies;
    }

    // Runs one iterator and hands each sample to `fn` as it is read: memory stays read_buf
    // whatever the socket count (a sample may straddle two reads).
    template <typename F>
    void stream(bpf_link* link, F&& fn) {
        UniqueFd fd(bpf_iter_create(bpf_link__fd(link)));
        if (!fd) throw BackendError(std::string("BPF socket walk: ") + std::strerror(errno));
        size_t have = 0;
        while (true) {
            ssize_t n = ::read(fd.get(), read_buf.data() + have, read_buf.size() - have);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw BackendError(std::string("BPF socket walk: ") + std::strerror(errno));
            if (n == 0) break;
            have += static_cast<size_t>(n);
            size_t off = 0;
            for (; have - off >= sizeof(zdd_sock_sample); off += sizeof(zdd_sock_sample)) {
                zdd_sock_sample s;
                std::memcpy(&s, read_buf.data() + off, sizeof s);
                fn(s);
            }
            std::memmove(read_buf.data(), read_buf.data() + off, have - off);
            have -= off;
        }
        if (have != 0)
            throw BackendError("BPF socket walk: truncated sample (" + std::to_string(have) +
                               " bytes)");
    }

    // Puts the port in the watched map and the tracepoint's bitmap (the map first: a set bit
    // always finds its entry). False when the map is full.
    void add_port(uint16_t port) {
        zdd_port_key key{netns, port, 0};
        uint8_t one = 1;
        if (bpf_map_update_elem(bpf_map__fd(skel->maps.zdd_watched), &key, &one, BPF_ANY) != 0) {
            if (errno == E2BIG)
                throw BackendError("cannot watch port " + std::to_string(port) + ": already " +
                                   std::to_string(opts.max_ports) + " ports (max_ports)");
            throw BackendError("cannot watch port " + std::to_string(port) + ": " +
                               std::strerror(errno));
        }
        __atomic_fetch_or(&skel->bss->zdd_port_bits[port >> 6], 1ull << (port & 63),
                          __ATOMIC_SEQ_CST);
        watched.insert(port);
    }

    template <typename T>
    T bss_load(const T& field) const {
        return __atomic_load_n(&field, __ATOMIC_RELAXED);
    }
};

BpfBackend::BpfBackend(const BackendOptions& opts) : impl_(std::make_unique<Impl>()) {
    static std::once_flag print_once;
    std::call_once(print_once, [] { libbpf_set_print(libbpf_to_spdlog); });

    if (opts.max_ports == 0) throw BackendError("BPF backend: max_ports must be at least 1");
    if (opts.ringbuf_bytes == 0) throw BackendError("BPF backend: ringbuf_bytes must be > 0");
    Impl& m = *impl_;
    m.opts = opts;
    m.netns = current_netns();

    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!kernel_config_readable()) open_opts.kconfig = "CONFIG_HZ=0\n";
    m.skel.reset(drainmon_bpf__open_opts(&open_opts));
    if (!m.skel) unavailable("opening the BPF object", errno);

    auto* skel = m.skel.get();
    skel->rodata->cfg_max_sockets = opts.max_sockets;
    skel->rodata->cfg_idle_after_ms = opts.thresholds.idle_after_ms;
    skel->rodata->cfg_push_gap_ms = opts.thresholds.push_gap_ms;
    skel->rodata->cfg_stuck_after_ms = opts.thresholds.stuck_after_ms;
    bpf_map__set_max_entries(skel->maps.zdd_watched, opts.max_ports);
    bpf_map__set_max_entries(skel->maps.zdd_counts, opts.max_ports);
    bpf_map__set_max_entries(skel->maps.zdd_events, round_up_pow2_pages(opts.ringbuf_bytes));

    if (int err = drainmon_bpf__load(skel)) unavailable("loading the BPF programs", -err);

    m.hz = skel->kconfig->CONFIG_HZ;
    if (m.hz == 0) {
        m.hz = measure_hz();
        spdlog::debug("bpf: CONFIG_HZ unknown, measured HZ={}", m.hz);
    }
    skel->bss->hz_fallback = m.hz;

    // Tracepoint first, then the iterator (run by watch()): no socket falls between the two.
    m.state_link.reset(bpf_program__attach(skel->progs.zdd_set_state));
    if (!m.state_link) unavailable("attaching tp_btf/inet_sock_set_state", errno);
    m.iter_link.reset(bpf_program__attach_iter(skel->progs.zdd_iter_tcp, nullptr));
    if (!m.iter_link) unavailable("attaching iter/tcp", errno);
    bpf_iter_link_info linfo{};
    linfo.map.map_fd = static_cast<uint32_t>(bpf_map__fd(skel->maps.zdd_sk_marks));
    LIBBPF_OPTS(bpf_iter_attach_opts, iter_opts, .link_info = &linfo,
                .link_info_len = sizeof linfo);
    m.marks_link.reset(bpf_program__attach_iter(skel->progs.zdd_iter_marks, &iter_opts));
    if (!m.marks_link) unavailable("attaching iter/bpf_sk_storage_map", errno);
    m.ring.reset(
        ring_buffer__new(bpf_map__fd(skel->maps.zdd_events), &Impl::on_event, &m, nullptr));
    if (!m.ring) unavailable("opening the ring buffer", errno);
}

BpfBackend::~BpfBackend() = default;

uint32_t BpfBackend::measure_hz() const {
    using clock = std::chrono::steady_clock;
    uint64_t j0 = impl_->jiffies();
    auto t0 = clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    uint64_t j1 = impl_->jiffies();
    double secs = std::chrono::duration<double>(clock::now() - t0).count();
    double est = static_cast<double>(j1 - j0) / secs;
    // Kernels are built with one of these; snap to it when the estimate is close.
    for (uint32_t hz : {100u, 250u, 300u, 1000u})
        if (std::fabs(est - hz) <= hz * 0.1) return hz;
    return est >= 1.0 ? static_cast<uint32_t>(std::lround(est)) : 1000u;
}

void BpfBackend::watch(uint16_t port) {
    pass({port}, [](const zdd_sock_sample&) {});
}

void BpfBackend::pass(const std::vector<uint16_t>& ports,
                      const std::function<void(const zdd_sock_sample&)>& fn) {
    Impl& m = *impl_;
    if (ports.empty()) return;  // nothing to walk for
    bool seed = false;
    try {
        for (uint16_t p : ports)
            if (!m.watched.count(p)) {
                m.add_port(p);
                seed = true;
            }
    } catch (const BackendError&) {
        // the ports added before the full map must still be seeded
        if (seed) {
            ++walks_;
            m.stream(m.iter_link.get(), [](const zdd_sock_sample&) {});
        }
        throw;
    }
    // Only a walk of every socket finds those of a new port; it also samples the ports watched
    // before, so it is this pass's only walk.
    ++walks_;
    m.stream(seed ? m.iter_link.get() : m.marks_link.get(), [&](const zdd_sock_sample& s) {
        if (s.netns == m.netns) fn(s);
    });
}

PortCounts BpfBackend::read_counts(uint16_t port) const {
    PortCounts pc;
    pc.port = port;
    zdd_port_key key{impl_->netns, port, 0};
    zdd_port_counters c{};
    if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.zdd_counts), &key, &c) == 0) {
        pc.established = c.established;
        pc.close_wait = c.close_wait;
        pc.closing = c.closing;
        pc.listeners = c.listeners;
        std::copy(std::begin(c.state_changes), std::end(c.state_changes), pc.state_changes.begin());
    }
    return pc;
}

PortCounts BpfBackend::counts(uint16_t port) {
    if (!impl_->watched.count(port)) watch(port);
    return read_counts(port);
}

namespace {

SocketSample to_sample(const zdd_sock_sample& s) {
    SocketSample out;
    out.local = make_endpoint(s.family, s.laddr, s.lport);
    out.remote = make_endpoint(s.family, s.raddr, s.rport);
    out.in = s.in;
    out.verdict = s.verdict;
    return out;
}

void add_class(PortCounts& pc, uint32_t cls) {
    if (cls == ZDD_CLASS_ACTIVE) ++pc.active;
    if (cls == ZDD_CLASS_IDLE) ++pc.idle;
    if (cls == ZDD_CLASS_STUCK) ++pc.stuck;  // closing is counted under "closing"
}

}  // namespace

Snapshot BpfBackend::snapshot(const std::vector<uint16_t>& ports,
                              const std::vector<std::pair<Endpoint, Endpoint>>& exclude) {
    std::vector<zdd_sock_sample> samples;
    std::set<uint16_t> wanted(ports.begin(), ports.end());
    pass(ports, [&](const zdd_sock_sample& s) {
        if (wanted.count(s.lport)) samples.push_back(s);
    });

    // counters after the walk: what the walk seeded is in them
    Snapshot snap;
    snap.backend = name();
    std::map<uint16_t, size_t> index;
    for (uint16_t p : ports) {
        if (index.count(p)) continue;
        index[p] = snap.ports.size();
        snap.ports.push_back(read_counts(p));
    }

    std::set<std::string> excluded;
    for (const auto& [local, remote] : exclude)
        excluded.insert(tuple_key(canonical(local), canonical(remote)));

    snap.sockets.reserve(samples.size());
    for (const auto& s : samples) {
        SocketSample out = to_sample(s);
        if (!excluded.empty() && excluded.count(tuple_key(out.local, out.remote))) {
            // the mark says which counter holds it (none when it overflowed)
            PortCounts& pc = snap.ports[index.at(s.lport)];
            if (s.mark == ZDD_MARK_ESTABLISHED) --pc.established;
            if (s.mark == ZDD_MARK_CLOSE_WAIT) --pc.close_wait;
            if (s.mark == ZDD_MARK_CLOSING) --pc.closing;
            continue;
        }
        snap.sockets.push_back(std::move(out));
    }

    snap.overflow = overflow();
    snap.underflow = underflow();
    snap.incomplete = snap.overflow > 0;
    snap.walks = walks_;
    tally_classes(snap);
    return snap;
}

void BpfBackend::walk(const std::vector<uint16_t>& ports,
                      const std::function<void(const SocketSample&)>& visit, Snapshot& out) {
    std::map<uint16_t, PortCounts> classes;  // active/idle/stuck as the samples stream by
    for (uint16_t p : ports) classes[p];
    pass(ports, [&](const zdd_sock_sample& s) {
        auto it = classes.find(s.lport);
        if (it == classes.end()) return;
        add_class(it->second, s.verdict.cls);
        visit(to_sample(s));
    });

    out = Snapshot{};
    out.backend = name();
    std::set<uint16_t> seen;
    for (uint16_t p : ports) {
        if (!seen.insert(p).second) continue;
        PortCounts pc = read_counts(p);
        pc.active = classes[p].active;
        pc.idle = classes[p].idle;
        pc.stuck = classes[p].stuck;
        out.ports.push_back(pc);
    }
    out.overflow = overflow();
    out.underflow = underflow();
    out.incomplete = out.overflow > 0;
    out.walks = walks_;
}

bool BpfBackend::wait_close(std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    Impl& m = *impl_;
    auto deadline = clock::now() + std::max(timeout, std::chrono::milliseconds(0));
    m.woke = false;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        int ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
        int n = ring_buffer__poll(m.ring.get(), ms);
        if (n < 0 && n != -EINTR)
            throw BackendError(std::string("BPF ring buffer: ") + std::strerror(-n));
        if (m.woke) return true;
        if (clock::now() >= deadline) return false;
    }
}

int BpfBackend::event_fd() const {
    return ring_buffer__epoll_fd(impl_->ring.get());
}

uint64_t BpfBackend::overflow() const {
    return impl_->bss_load(impl_->skel->bss->overflow_count);
}
uint64_t BpfBackend::underflow() const {
    return impl_->bss_load(impl_->skel->bss->underflow_count);
}
uint64_t BpfBackend::dropped_events() const {
    return impl_->bss_load(impl_->skel->bss->dropped_events);
}
int64_t BpfBackend::tracked_sockets() const {
    return impl_->bss_load(impl_->skel->bss->tracked_sockets);
}
uint32_t BpfBackend::netns() const {
    return impl_->netns;
}
uint32_t BpfBackend::hz() const {
    return impl_->hz;
}

std::vector<BpfBackend::BpfObjectId> BpfBackend::programs() const {
    std::vector<BpfObjectId> out;
    bpf_program* prog;
    bpf_object__for_each_program(prog, impl_->skel->obj) {
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0)
            out.push_back({info.name, info.id});
    }
    return out;
}

std::vector<BpfBackend::BpfObjectId> BpfBackend::maps() const {
    std::vector<BpfObjectId> out;
    bpf_map* map;
    bpf_object__for_each_map(map, impl_->skel->obj) {
        bpf_map_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len) == 0)
            out.push_back({info.name, info.id});
    }
    return out;
}

}  // namespace drainmon
