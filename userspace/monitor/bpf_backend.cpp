#include "monitor/bpf_backend.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
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
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string_view>
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
    // Most libbpf messages carry their own "libbpf: " prefix; add it only where one lacks it.
    constexpr std::string_view kPrefix = "libbpf: ";
    if (line.starts_with(kPrefix)) line.erase(0, kPrefix.size());
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

using Bss = drainmon_bpf::drainmon_bpf__bss;
using Rodata = drainmon_bpf::drainmon_bpf__rodata;

constexpr const char* kBpffs = "/sys/fs/bpf";
constexpr long kBpffsMagic = 0xcafe4a11;  // BPF_FS_MAGIC
// What a resident monitor pins (maps, then links) in its directory.
constexpr const char* kPinNames[] = {"bss",       "rodata",   "watched",   "counts",
                                     "set_state", "iter_tcp", "iter_marks"};

bool is_bpffs(const std::string& path) {
    struct statfs st {};
    return ::statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kBpffsMagic;
}

// One directory per network namespace: the counts are keyed by it.
std::string resident_dir(const std::string& root, uint32_t netns) {
    return (root.empty() ? std::string(kBpffs) : root) + "/zdd/net-" + std::to_string(netns);
}

// Clock ticks since boot at which `pid` started (/proc/PID/stat field 22); 0 if it is gone.
uint64_t process_start(uint32_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!pid || !std::getline(in, stat)) return 0;
    auto close = stat.rfind(')');  // the command may contain spaces and parentheses
    if (close == std::string::npos) return 0;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) return std::stoull(field);
    return 0;
}

bool owner_alive(const Bss& bss) {
    uint32_t pid = __atomic_load_n(&bss.owner_pid, __ATOMIC_ACQUIRE);
    return pid != 0 && process_start(pid) == bss.owner_start;
}

void remove_pins(const std::string& dir) {
    for (const char* name : kPinNames) ::unlink((dir + "/" + name).c_str());
    ::rmdir(dir.c_str());
    ::rmdir(dir.substr(0, dir.rfind('/')).c_str());  // .../zdd, when no other namespace's is left
}

// The pinned .bss of `dir`, mapped shared (nullptr when absent or not ours).
Bss* map_pinned_bss(const std::string& dir, UniqueFd& fd, size_t& len) {
    fd = UniqueFd(bpf_obj_get((dir + "/bss").c_str()));
    if (!fd) return nullptr;
    bpf_map_info info{};
    uint32_t info_len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &info_len) != 0 || info.value_size != sizeof(Bss))
        return nullptr;
    len = sizeof(Bss);
    void* mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    return mem == MAP_FAILED ? nullptr : static_cast<Bss*>(mem);
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
    std::unique_ptr<ring_buffer, RingDeleter> ring;     // none when reading a resident monitor
    // What every operation uses: the loaded object's, or a resident monitor's pinned ones.
    int watched_fd = -1;
    int counts_fd = -1;
    int iter_fd = -1;   // link of iter/tcp
    int marks_fd = -1;  // link of iter/bpf_sk_storage_map
    Bss* bss = nullptr;
    // A resident monitor's: pinned fds and the mapped .bss (reader side); pins (owner side).
    std::vector<UniqueFd> pinned_fds;
    size_t bss_len = 0;
    bool bss_mapped = false;
    std::string pin_dir;
    // Reader side: per watched port, its transitions out of ESTABLISHED / CLOSE_WAIT /
    // LISTEN already reported by wait_close() (or there when the port was watched).
    std::map<uint16_t, uint64_t> leaving_seen;
    std::set<uint16_t> watched;
    std::map<uint16_t, int64_t> wake_at;  // as last written to the watched map
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
    void stream(int link_fd, F&& fn) {
        UniqueFd fd(bpf_iter_create(link_fd));
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
        zdd_watch w{ZDD_WAKE_ALWAYS};
        if (bpf_map_update_elem(watched_fd, &key, &w, BPF_ANY) != 0) {
            if (errno == E2BIG)
                throw BackendError("cannot watch port " + std::to_string(port) + ": already " +
                                   std::to_string(opts.max_ports) + " ports (max_ports)");
            throw BackendError("cannot watch port " + std::to_string(port) + ": " +
                               std::strerror(errno));
        }
        __atomic_fetch_or(&bss->zdd_port_bits[port >> 6], 1ull << (port & 63), __ATOMIC_SEQ_CST);
        now_watched(port);
    }

    // Transitions into the states a socket enters when it leaves ESTABLISHED, CLOSE_WAIT or
    // LISTEN: what wait_close() wakes for (a closing socket reaching CLOSE wakes it too,
    // harmlessly).
    uint64_t leaving(uint16_t port) const {
        zdd_port_key key{netns, port, 0};
        zdd_port_counters c{};
        if (bpf_map_lookup_elem(counts_fd, &key, &c) != 0) return 0;
        return c.state_changes[ZDD_TCP_CLOSE_WAIT] + c.state_changes[ZDD_TCP_FIN_WAIT1] +
               c.state_changes[ZDD_TCP_LAST_ACK] + c.state_changes[ZDD_TCP_CLOSE];
    }

    void now_watched(uint16_t port) {
        watched.insert(port);
        if (!ring) leaving_seen[port] = leaving(port);
    }

    // Watched here, or (reading a resident monitor) watched and seeded by it already.
    bool is_watched(uint16_t port) {
        if (watched.count(port)) return true;
        zdd_port_key key{netns, port, 0};
        zdd_watch v{};
        if (skel || bpf_map_lookup_elem(watched_fd, &key, &v) != 0) return false;
        now_watched(port);
        return true;
    }

    ~Impl() {
        if (!pin_dir.empty()) remove_pins(pin_dir);
        if (bss_mapped) ::munmap(bss, bss_len);
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
    m.watched_fd = bpf_map__fd(skel->maps.zdd_watched);
    m.counts_fd = bpf_map__fd(skel->maps.zdd_counts);
    m.iter_fd = bpf_link__fd(m.iter_link.get());
    m.marks_fd = bpf_link__fd(m.marks_link.get());
    m.bss = skel->bss;
}

BpfBackend::BpfBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

BpfBackend::~BpfBackend() = default;

bool BpfBackend::pin(const std::string& root) {
    Impl& m = *impl_;
    if (!m.skel) throw BackendError("pin: this monitor is itself a resident monitor's reader");
    if (!m.pin_dir.empty()) return true;
    std::string base = root.empty() ? std::string(kBpffs) : root;
    if (!is_bpffs(base)) {
        // systemd mounts it; minimal hosts and containers may not have
        if (::mount("bpf", base.c_str(), "bpf", 0, "mode=0700") != 0)
            throw BackendError("cannot mount bpffs at " + base + ": " + std::strerror(errno));
    }
    std::string dir = resident_dir(root, m.netns);
    {
        UniqueFd fd;
        size_t len = 0;
        if (Bss* other = map_pinned_bss(dir, fd, len)) {
            bool alive = owner_alive(*other);
            ::munmap(other, len);
            if (alive) return false;  // another process's monitor is resident here
        }
        remove_pins(dir);  // stale: its owner died without removing them
    }
    ::mkdir((base + "/zdd").c_str(), 0700);
    if (::mkdir(dir.c_str(), 0700) != 0)
        throw BackendError("cannot pin the monitor in " + dir + ": " + std::strerror(errno));

    m.bss->owner_start = process_start(static_cast<uint32_t>(::getpid()));
    __atomic_store_n(&m.bss->owner_pid, static_cast<uint32_t>(::getpid()), __ATOMIC_RELEASE);
    auto* skel = m.skel.get();
    std::pair<int, const char*> objs[] = {
        {bpf_map__fd(skel->maps.bss), "bss"},
        {bpf_map__fd(skel->maps.rodata), "rodata"},
        {m.watched_fd, "watched"},
        {m.counts_fd, "counts"},
        {bpf_link__fd(m.state_link.get()), "set_state"},
        {m.iter_fd, "iter_tcp"},
        {m.marks_fd, "iter_marks"},
    };
    for (const auto& [fd, name] : objs) {
        if (bpf_obj_pin(fd, (dir + "/" + name).c_str()) != 0) {
            int err = errno;
            remove_pins(dir);
            throw BackendError("cannot pin the monitor in " + dir + ": " + std::strerror(err));
        }
    }
    m.pin_dir = dir;
    return true;
}

std::unique_ptr<BpfBackend> BpfBackend::open_resident(const BackendOptions& opts,
                                                      const std::string& root) {
    auto m = std::make_unique<Impl>();
    m->opts = opts;
    m->netns = current_netns();
    std::string base = root.empty() ? std::string(kBpffs) : root;
    if (!is_bpffs(base)) return nullptr;
    std::string dir = resident_dir(root, m->netns);
    UniqueFd bss_fd;
    m->bss = map_pinned_bss(dir, bss_fd, m->bss_len);
    if (!m->bss) return nullptr;
    m->bss_mapped = true;
    if (!owner_alive(*m->bss)) {
        spdlog::debug("bpf: removing the stale resident monitor in {}", dir);
        remove_pins(dir);  // its pinned links would keep the programs attached forever
        return nullptr;
    }
    auto open = [&](const char* name) {
        UniqueFd fd(bpf_obj_get((dir + "/" + name).c_str()));
        int raw = fd.get();
        if (fd) m->pinned_fds.push_back(std::move(fd));
        return raw;
    };
    // The classes are computed in the kernel with the resident monitor's thresholds: only the
    // same build with the same thresholds may answer for us.
    Rodata ro{};
    int ro_fd = open("rodata");
    bpf_map_info ro_info{};
    uint32_t ro_info_len = sizeof ro_info;
    if (ro_fd >= 0 && bpf_obj_get_info_by_fd(ro_fd, &ro_info, &ro_info_len) == 0 &&
        ro_info.value_size >= sizeof ro) {
        std::vector<char> value(ro_info.value_size);  // .rodata may hold more than our variables
        uint32_t zero = 0;
        if (bpf_map_lookup_elem(ro_fd, &zero, value.data()) == 0)
            std::memcpy(&ro, value.data(), sizeof ro);
    }
    if (ro.cfg_layout != ZDD_DRAINMON_LAYOUT ||
        ro.cfg_idle_after_ms != opts.thresholds.idle_after_ms ||
        ro.cfg_push_gap_ms != opts.thresholds.push_gap_ms ||
        ro.cfg_stuck_after_ms != opts.thresholds.stuck_after_ms) {
        spdlog::debug(
            "bpf: the resident monitor in {} does not match this build or its "
            "thresholds",
            dir);
        return nullptr;
    }
    m->watched_fd = open("watched");
    m->counts_fd = open("counts");
    m->iter_fd = open("iter_tcp");
    m->marks_fd = open("iter_marks");
    if (m->watched_fd < 0 || m->counts_fd < 0 || m->iter_fd < 0 || m->marks_fd < 0) return nullptr;
    m->hz = m->bss->hz_fallback;
    return std::unique_ptr<BpfBackend>(new BpfBackend(std::move(m)));
}

bool BpfBackend::resident() const {
    return !impl_->skel;
}

uint32_t BpfBackend::measure_hz() const {
    if (!impl_->skel) return impl_->hz;  // the resident monitor measured it
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
            if (!m.is_watched(p)) {
                m.add_port(p);
                seed = true;
            }
    } catch (const BackendError&) {
        // the ports added before the full map must still be seeded
        if (seed) {
            ++walks_;
            m.stream(m.iter_fd, [](const zdd_sock_sample&) {});
        }
        throw;
    }
    // Only a walk of every socket finds those of a new port; it also samples the ports watched
    // before, so it is this pass's only walk.
    ++walks_;
    m.stream(seed ? m.iter_fd : m.marks_fd, [&](const zdd_sock_sample& s) {
        if (s.netns == m.netns) fn(s);
    });
}

PortCounts BpfBackend::read_counts(uint16_t port) const {
    PortCounts pc;
    pc.port = port;
    zdd_port_key key{impl_->netns, port, 0};
    zdd_port_counters c{};
    if (bpf_map_lookup_elem(impl_->counts_fd, &key, &c) == 0) {
        pc.established = c.established;
        pc.close_wait = c.close_wait;
        pc.closing = c.closing;
        pc.listeners = c.listeners;
        std::copy(std::begin(c.state_changes), std::end(c.state_changes), pc.state_changes.begin());
    }
    return pc;
}

PortCounts BpfBackend::counts(uint16_t port) {
    if (!impl_->is_watched(port)) watch(port);
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

void BpfBackend::wake_at(uint16_t port, int64_t connections) {
    Impl& m = *impl_;
    // A resident monitor's map is its owner's: a reader polls the counters instead.
    if (!m.ring || !m.watched.count(port)) return;
    auto last = m.wake_at.try_emplace(port, ZDD_WAKE_ALWAYS).first;  // as add_port() wrote
    if (last->second == connections) return;
    zdd_port_key key{m.netns, port, 0};
    zdd_watch w{connections};
    if (bpf_map_update_elem(m.watched_fd, &key, &w, BPF_EXIST) != 0)
        throw BackendError("cannot set the wake threshold of port " + std::to_string(port) + ": " +
                           std::strerror(errno));
    last->second = connections;
}

bool BpfBackend::wait_close(std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    Impl& m = *impl_;
    auto deadline = clock::now() + std::max(timeout, std::chrono::milliseconds(0));
    if (!m.ring) {
        // A resident monitor's ring buffer has one consumer, its owner: poll its counters for
        // a transition out of ESTABLISHED, CLOSE_WAIT or LISTEN instead.
        while (true) {
            bool woke = false;
            for (auto& [port, seen] : m.leaving_seen) {
                uint64_t now = m.leaving(port);
                if (now != seen) woke = true;
                seen = now;
            }
            if (woke) return true;
            auto left = deadline - clock::now();
            if (left <= clock::duration::zero()) return false;
            std::this_thread::sleep_for(
                std::min<clock::duration>(std::chrono::milliseconds(10), left));
        }
    }
    m.woke = false;
    while (true) {
        // Rounded up: a sub-millisecond rest must not spin through zero-timeout polls.
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
        int ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
        int n = ring_buffer__poll(m.ring.get(), ms);
        if (n < 0 && n != -EINTR)
            throw BackendError(std::string("BPF ring buffer: ") + std::strerror(-n));
        if (m.woke) return true;
        if (clock::now() >= deadline) return false;
    }
}

int BpfBackend::event_fd() const {
    return impl_->ring ? ring_buffer__epoll_fd(impl_->ring.get()) : -1;
}

uint64_t BpfBackend::overflow() const {
    return impl_->bss_load(impl_->bss->overflow_count);
}
uint64_t BpfBackend::underflow() const {
    return impl_->bss_load(impl_->bss->underflow_count);
}
uint64_t BpfBackend::dropped_events() const {
    return impl_->bss_load(impl_->bss->dropped_events);
}
int64_t BpfBackend::tracked_sockets() const {
    return impl_->bss_load(impl_->bss->tracked_sockets);
}
uint32_t BpfBackend::netns() const {
    return impl_->netns;
}
uint32_t BpfBackend::hz() const {
    return impl_->hz;
}

namespace {

// Name and kernel id of each program or map of `obj`: `next` walks them (libbpf's
// bpf_object__next_program/_map), `fd` gives each one's fd, Info is its bpf_*_info.
template <typename Info, typename Next, typename Fd>
std::vector<BpfBackend::BpfObjectId> object_ids(bpf_object* obj, Next next, Fd fd) {
    std::vector<BpfBackend::BpfObjectId> out;
    if (!obj) return out;
    for (auto* o = next(obj, nullptr); o; o = next(obj, o)) {
        Info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd(o), &info, &len) == 0) out.push_back({info.name, info.id});
    }
    return out;
}

}  // namespace

std::vector<BpfBackend::BpfObjectId> BpfBackend::programs() const {
    return object_ids<bpf_prog_info>(impl_->skel ? impl_->skel->obj : nullptr,
                                     bpf_object__next_program, bpf_program__fd);
}

std::vector<BpfBackend::BpfObjectId> BpfBackend::maps() const {
    return object_ids<bpf_map_info>(impl_->skel ? impl_->skel->obj : nullptr, bpf_object__next_map,
                                    bpf_map__fd);
}

}  // namespace drainmon
