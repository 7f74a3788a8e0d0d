// The BPF monitor backend: loads bpf/drainmon.bpf.c (tracepoint counters, close-event ring
// buffer, socket iterator) and answers the Backend interface from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "monitor/backend.hpp"

namespace drainmon {

class BpfBackend : public Backend {
  public:
    // Loads and attaches the programs. Throws BackendError with one line ("BPF unavailable:
    // ...") when they cannot load (no CAP_BPF, no BTF, ...). libbpf's own messages go to
    // spdlog at debug level.
    explicit BpfBackend(const BackendOptions& opts);
    ~BpfBackend() override;  // detaches and frees every program, link, map and fd

    std::string name() const override { return "bpf"; }
    // Adds the port to the watched map, then walks existing sockets once to seed the counts.
    // Throws BackendError when max_ports ports are already watched.
    void watch(uint16_t port) override;
    Snapshot snapshot(const std::vector<uint16_t>& ports,
                      const std::vector<std::pair<Endpoint, Endpoint>>& exclude = {}) override;
    // true when a socket of a watched port left ESTABLISHED/CLOSE_WAIT (events that arrived
    // since the previous call count too); false on timeout.
    bool wait_close(std::chrono::milliseconds timeout) override;
    int event_fd() const override;  // the ring buffer's epoll fd

    // Kernel-side counters (cumulative since load), also in every Snapshot.
    uint64_t overflow() const;
    uint64_t underflow() const;
    uint64_t dropped_events() const;  // close events lost to a full ring buffer
    int64_t tracked_sockets() const;  // sockets counted right now (bounded by max_sockets)

    uint32_t netns() const;  // inode of the network namespace the counts are keyed by
    uint32_t hz() const;     // the kernel's HZ as the iterator uses it (CONFIG_HZ or measured)
    // HZ measured from two bpf_jiffies64() readings 200 ms apart (used when CONFIG_HZ is
    // unknown; never sysconf(_SC_CLK_TCK), which is USER_HZ).
    uint32_t measure_hz() const;

    struct BpfObjectId {
        std::string name;  // as `bpftool prog/map show` prints it (kernel names are <= 15 chars)
        uint32_t id = 0;
    };
    std::vector<BpfObjectId> programs() const;  // zdd_set_state, zdd_iter_tcp, zdd_jiffies
    std::vector<BpfObjectId> maps() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace drainmon
