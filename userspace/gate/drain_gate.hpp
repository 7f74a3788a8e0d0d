// The drain gate (docs/design.md "The drain gate"): a pure function of (app report, kernel report,
// policy) -> verdict. drain-inspector wait and libzdd's deploy both decide with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gate/peer_cidr.hpp"
#include "monitor/socket_sample.hpp"

namespace drainmon {

// What the app says about itself on GET /health/deployment.
struct AppReport {
    int64_t active_streams = 0;
    int64_t active_requests = 0;
    bool ready_for_shutdown = false;
    std::string status;
    std::string version;
    std::string deployment_color;
    int64_t port = 0;
    double uptime_seconds = 0;
    // Stream handoff (optional, handoff.hpp): streams still to hand over, and streams handed
    // over so far; -1 when the app does not report them.
    int64_t handoff_pending = -1;
    int64_t handed_off = -1;
};

struct GatePolicy {
    bool idle_ok = false;  // idle keepalives never block, even without an app report
    bool strict = false;   // stuck sockets block (until the timeout)
    // --ignore-remote: connections from these peers are listed (GateVerdict::ignored) but
    // neither hold the drain nor count in any class.
    std::vector<PeerCidr> ignore_remote = {};
};

enum class GateState {
    Wait,     // something still carries work
    Drained,  // nothing blocks; the app still listens
    Gone,     // nothing blocks and no LISTEN socket is left on the port
};

const char* gate_state_name(GateState s);  // "wait", "drained", "gone"

// The figures of a progress line. requests/streams are -1 without an app report.
struct GateFigures {
    int64_t connections = 0;  // ESTABLISHED + CLOSE_WAIT on the port
    int64_t requests = -1;
    int64_t streams = -1;
    int64_t active = 0;
    int64_t idle = 0;
    int64_t stuck = 0;
    int64_t listeners = 0;
    int64_t ignored = 0;  // connections from --ignore-remote peers (in no class)
    // Streams the app handed over (its handedOff); -1 when this drain did not ask for a
    // handoff or the app does not say. Shown on the progress line when >= 0.
    int64_t handed_off = -1;
};

struct GateVerdict {
    GateState state = GateState::Wait;
    std::string reason;  // one line: why it waits, or what it saw when it stopped
    GateFigures figures;
    std::vector<SocketSample> blocking;  // sockets that hold the drain (by class and policy)
    std::vector<SocketSample> stuck;     // every stuck socket, blocking or not (to be listed)
    std::vector<SocketSample> ignored;   // from --ignore-remote peers: listed, never counted
};

// `kernel` is a snapshot that covers `port` (the gate's own poll connections already left
// out); `app` is empty when there was no report (timeout, 5xx, refused, malformed).
GateVerdict evaluate_gate(const std::optional<AppReport>& app, const Snapshot& kernel,
                          uint16_t port, const GatePolicy& policy);

// "127.0.0.1:8080 <- 127.0.0.1:51234 ESTABLISHED active/recent_data": how sockets are listed.
std::string describe_socket(const SocketSample& s);

// "[INFO] Waiting [2m 15s]... Connections: 3, Requests: 2, Streams: 1 (Active: 1, Idle: 2, Stuck:
// 0)" (issue 5's line), ", Handed off: N" after it in a drain with a handoff, then
// " - <reason>" when the app's own counts do not explain the wait.
std::string progress_line(const GateVerdict& v, int64_t waited_seconds);

// Time until the first socket on `port` changes class on its own: an age of it reaches
// idle_after or stuck_after and the classifier then answers another class (a crossing that
// leaves the class as it is does not count). push_gap compares two ages that grow together,
// so it never changes by waiting. A waiter re-checks then instead of polling on a clock.
std::optional<std::chrono::milliseconds> next_class_change(const Snapshot& snap, uint16_t port,
                                                           const zdd_thresholds& t);

}  // namespace drainmon
