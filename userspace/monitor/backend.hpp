// The interface both monitor backends implement (BPF and sock_diag), so the inspector and the
// drain gate never care which one answers.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "monitor/socket_sample.hpp"

namespace drainmon {

// Setup failed (BPF cannot load, netlink refused, ...): the message is one line for operators.
struct BackendError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct BackendOptions {
    zdd_thresholds thresholds = default_thresholds();
    uint32_t max_sockets = 1u << 20;  // BPF: sockets tracked at once; beyond it -> overflow
    uint32_t max_ports = 1024;        // BPF: (netns, port) counter entries
    uint32_t ringbuf_bytes = 1u << 20;
};

class Backend {
  public:
    virtual ~Backend() = default;
    Backend() = default;
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    virtual std::string name() const = 0;  // "bpf" or "sock_diag"

    // Start counting a local port of this network namespace (idempotent). Sockets that already
    // exist on it are counted once (seeding).
    virtual void watch(uint16_t port) = 0;

    // Counts and per-socket samples for the given ports (each is watched first if it was not).
    // Sockets whose 4-tuple is in `exclude` (the gate's own polls) are left out of everything.
    virtual Snapshot snapshot(const std::vector<uint16_t>& ports,
                              const std::vector<std::pair<Endpoint, Endpoint>>& exclude = {}) = 0;

    // The port's counts alone, without any per-socket walk (issue 10: counts come from the
    // kernel's per-port counters, O(1) per read). Classes (active/idle/stuck) stay 0 here.
    // This default takes a full snapshot; backends override it with something cheap.
    virtual PortCounts counts(uint16_t port) {
        Snapshot s = snapshot({port});
        return s.ports.empty() ? PortCounts{} : s.ports.front();
    }

    // Streams each socket of `ports` to `visit` instead of building the vector (one-shot
    // `snapshot` output whose memory must not grow with the socket count). `out` gets the
    // counts, flags and classes, with `sockets` left empty. This default builds the vector.
    virtual void walk(const std::vector<uint16_t>& ports,
                      const std::function<void(const SocketSample&)>& visit, Snapshot& out) {
        out = snapshot(ports);
        for (const auto& s : out.sockets) visit(s);
        out.sockets.clear();
    }

    // Per-socket passes made so far (each snapshot()/walk() and each seeding walk): what a
    // test bounds to prove a drain does not walk once per close.
    virtual uint64_t walks() const { return walks_; }

    // Block until a watched socket leaves ESTABLISHED or CLOSE_WAIT (BPF: or a listener of a
    // watched port closes), or the timeout passes.
    // Returns true when woken by such an event. BPF: ring buffer; sock_diag: short polls.
    virtual bool wait_close(std::chrono::milliseconds timeout) = 0;

    // From now on a close on `port` need only wake wait_close() when the port's connections
    // (ESTABLISHED + CLOSE_WAIT) are at most `connections` afterwards (a listener closing
    // still wakes it). The caller re-reads counts() after setting it: a close in between is
    // seen there. Backends may wake more often (the default: every close).
    virtual void wake_at(uint16_t /*port*/, int64_t /*connections*/) {}

    // The fd to add to an epoll set (BPF ring buffer), or -1 where the backend has none.
    virtual int event_fd() const { return -1; }

  protected:
    uint64_t walks_ = 0;  // backends add one per per-socket pass
};

enum class BackendKind { Auto, Bpf, SockDiag };

BackendKind parse_backend_kind(const std::string& s);  // throws std::invalid_argument

// Auto: BPF where it loads, else sock_diag; `note` receives the one-line reason for a fallback.
std::unique_ptr<Backend> make_backend(BackendKind kind, const BackendOptions& opts,
                                      std::string* note = nullptr);

}  // namespace drainmon
