// The BPF monitor backend: loads bpf/drainmon.bpf.c (tracepoint counters, close-event ring
// buffer, socket iterators) and answers the Backend interface from it. Counts (listeners
// included) are one map lookup; a walk visits only the marked sockets of watched ports
// (iter/bpf_sk_storage_map), except the one iter/tcp walk that seeds newly watched ports.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "monitor/backend.hpp"

struct zdd_sock_sample;  // bpf/drainmon.h

namespace drainmon {

class BpfBackend : public Backend {
  public:
    // Loads and attaches the programs. Throws BackendError with one line ("BPF unavailable:
    // ...") when they cannot load (no CAP_BPF, no BTF, ...). libbpf's own messages go to
    // spdlog at debug level.
    explicit BpfBackend(const BackendOptions& opts);
    ~BpfBackend() override;  // detaches and frees every program, link, map and fd

    std::string name() const override { return "bpf"; }
    // Adds the port to the watched map and bitmap, then walks every socket once (iter/tcp) to
    // seed the counts. Throws BackendError when max_ports ports are already watched.
    void watch(uint16_t port) override;
    // One walk: the seeding walk when some port is new (its samples serve the snapshot, so a
    // one-shot snapshot walks once), else the marked sockets only. Counts come from the
    // kernel counters, read after the walk.
    Snapshot snapshot(const std::vector<uint16_t>& ports,
                      const std::vector<std::pair<Endpoint, Endpoint>>& exclude = {}) override;
    // One lookup in the counter map (a seeding walk first if the port was not watched).
    PortCounts counts(uint16_t port) override;
    // As snapshot() without `exclude`, streaming: memory stays one read buffer.
    void walk(const std::vector<uint16_t>& ports,
              const std::function<void(const SocketSample&)>& visit, Snapshot& out) override;
    // true when a socket of a watched port left ESTABLISHED/CLOSE_WAIT or a listener of one
    // closed (events that arrived since the previous call count too); false on timeout.
    bool wait_close(std::chrono::milliseconds timeout) override;
    void wake_at(uint16_t port, int64_t connections) override;
    int event_fd() const override;  // the ring buffer's epoll fd

    // Kernel-side counters (cumulative since load), also in every Snapshot.
    uint64_t overflow() const;
    uint64_t underflow() const;
    uint64_t dropped_events() const;  // close events lost to a full ring buffer
    int64_t tracked_sockets() const;  // sockets counted right now (bounded by max_sockets)

    // Resident monitor: pins this monitor's maps and links under ROOT/zdd/net-<netns> (ROOT:
    // /sys/fs/bpf, mounted as bpffs when it is not), so that other processes of the namespace
    // read its counts and walk its marks without loading programs (open_resident()). The pins
    // go with this object. False when another live process's monitor is resident there; a
    // stale one (its owner died) is removed first.
    bool pin(const std::string& root = "");
    // The resident monitor of this namespace, or nullptr when there is none (or it is stale,
    // then it is removed; or of another build; or classifying with other thresholds). Watching
    // a port it does not watch yet adds the port to it (one seeding walk). Its wait_close()
    // polls the counters (the ring buffer has one consumer, the owner) and event_fd() is -1;
    // programs() and maps() are empty.
    static std::unique_ptr<BpfBackend> open_resident(const BackendOptions& opts,
                                                     const std::string& root = "");
    bool resident() const;  // reads a resident monitor (open_resident)

    uint32_t netns() const;  // inode of the network namespace the counts are keyed by
    uint32_t hz() const;     // the kernel's HZ as the iterator uses it (CONFIG_HZ or measured)
    // HZ measured from two bpf_jiffies64() readings 200 ms apart (used when CONFIG_HZ is
    // unknown; never sysconf(_SC_CLK_TCK), which is USER_HZ).
    uint32_t measure_hz() const;

    struct BpfObjectId {
        std::string name;  // as `bpftool prog/map show` prints it (kernel names are <= 15 chars)
        uint32_t id = 0;
    };
    // zdd_set_state, zdd_iter_tcp, zdd_iter_marks, zdd_jiffies
    std::vector<BpfObjectId> programs() const;
    std::vector<BpfObjectId> maps() const;

  private:
    // Watches the new ones of `ports`, then makes one walk (seeding if any was new) and hands
    // each sample of the backend's namespace to `fn`.
    void pass(const std::vector<uint16_t>& ports,
              const std::function<void(const zdd_sock_sample&)>& fn);
    PortCounts read_counts(uint16_t port) const;

    struct Impl;
    explicit BpfBackend(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace drainmon
