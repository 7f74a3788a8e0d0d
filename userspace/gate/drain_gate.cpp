#include "gate/drain_gate.hpp"

#include <algorithm>
#include <cstdint>
#include <sstream>

namespace drainmon {

namespace {

std::string plural(int64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

const char* gate_state_name(GateState s) {
    switch (s) {
        case GateState::Wait:
            return "wait";
        case GateState::Drained:
            return "drained";
        case GateState::Gone:
            return "gone";
    }
    return "unknown";
}

GateVerdict evaluate_gate(const std::optional<AppReport>& app, const Snapshot& kernel,
                          uint16_t port, const GatePolicy& policy) {
    GateVerdict v;
    GateFigures& f = v.figures;
    for (const auto& p : kernel.ports) {
        if (p.port != port) continue;
        f.connections = p.established + p.close_wait;
        f.listeners = p.listeners;
    }
    if (app) {
        f.requests = app->active_requests;
        f.streams = app->active_streams;
    }

    // --ignore-remote peers: listed apart, in no class.
    auto ignored = [&](const SocketSample& s) {
        return std::any_of(policy.ignore_remote.begin(), policy.ignore_remote.end(),
                           [&](const PeerCidr& c) { return c.contains(s.remote); });
    };
    // Counted first, copied only into the lists a verdict keeps (a drain may see 50k sockets).
    for (const auto& s : kernel.sockets) {
        if (s.local.port != port) continue;
        if (ignored(s)) {
            v.ignored.push_back(s);
            continue;
        }
        if (s.verdict.cls == ZDD_CLASS_ACTIVE) ++f.active;
        if (s.verdict.cls == ZDD_CLASS_IDLE) ++f.idle;
        if (s.verdict.cls == ZDD_CLASS_STUCK) ++f.stuck;  // closing never blocks
    }
    auto take = [&](uint32_t cls, std::vector<SocketSample>& into) {
        for (const auto& s : kernel.sockets)
            if (s.local.port == port && s.verdict.cls == cls && !ignored(s)) into.push_back(s);
    };
    take(ZDD_CLASS_STUCK, v.stuck);
    f.ignored = static_cast<int64_t>(v.ignored.size());
    const std::string ignored_note = v.ignored.empty()
                                         ? ""
                                         : "; " + plural(f.ignored, "connection") +
                                               " from ignored peers (--ignore-remote) not counted";

    // Every rule that holds contributes to the reason, so the operator sees all of it at once.
    std::vector<std::string> why;
    // Rule 1: the app knows its own streams and requests best.
    if (app && (app->active_streams > 0 || app->active_requests > 0))
        why.push_back("app reports " + plural(app->active_streams, "stream") + ", " +
                      plural(app->active_requests, "request"));
    // Rule 2: the kernel sees work in flight, whatever the app says.
    if (f.active > 0) {
        std::string r = plural(f.active, "active socket");
        if (app && app->active_streams == 0 && app->active_requests == 0)
            r += ": traffic the app does not count";
        why.push_back(r);
        take(ZDD_CLASS_ACTIVE, v.blocking);
    }
    // Rule 3: an idle-looking socket may be a stream between events; only the app can say.
    if (f.idle > 0 && !app && !policy.idle_ok) {
        why.push_back(plural(f.idle, "idle socket") +
                      " and no app report to confirm them (--idle-ok ignores them)");
        take(ZDD_CLASS_IDLE, v.blocking);
    }
    // Rule 4: stuck sockets are listed always, block only when strict.
    if (!v.stuck.empty() && policy.strict) {
        why.push_back(plural(f.stuck, "stuck socket") + " (--strict)");
        v.blocking.insert(v.blocking.end(), v.stuck.begin(), v.stuck.end());
    }

    if (!why.empty()) {
        v.state = GateState::Wait;
        std::string r;
        for (const auto& w : why) r += (r.empty() ? "" : "; ") + w;
        if (f.listeners == 0) r += " (no LISTEN socket left on the port)";
        v.reason = r + ignored_note;
        return v;
    }

    // Rule 5 (and "gone": the same, once the app stopped listening).
    v.state = f.listeners == 0 ? GateState::Gone : GateState::Drained;
    v.reason = f.listeners == 0 ? "no LISTEN socket on port " + std::to_string(port) : "drained";
    if (!v.stuck.empty())
        v.reason += "; " + plural(f.stuck, "stuck socket") + " left (not blocking)";
    if (f.idle > 0) v.reason += "; " + plural(f.idle, "idle socket") + " left";
    v.reason += ignored_note;
    return v;
}

std::string describe_socket(const SocketSample& s) {
    std::ostringstream o;
    o << s.local.str() << " <- " << s.remote.str() << " " << state_name(s.in.state) << " "
      << zdd_class_name(s.verdict.cls) << "/" << zdd_reason_name(s.verdict.reason) << " (last send "
      << s.in.last_send_ms << " ms, last recv " << s.in.last_recv_ms << " ms, last ack "
      << s.in.last_ack_ms << " ms ago)";
    return o.str();
}

std::string progress_line(const GateVerdict& v, int64_t waited_seconds) {
    const GateFigures& f = v.figures;
    auto app_figure = [](int64_t n) { return n < 0 ? std::string("n/a") : std::to_string(n); };
    std::ostringstream o;
    o << "[INFO] Waiting [" << waited_seconds / 60 << "m " << waited_seconds % 60
      << "s]... Connections: " << f.connections << ", Requests: " << app_figure(f.requests)
      << ", Streams: " << app_figure(f.streams) << " (Active: " << f.active << ", Idle: " << f.idle
      << ", Stuck: " << f.stuck << (f.ignored > 0 ? ", Ignored: " + std::to_string(f.ignored) : "")
      << ")";
    if (f.handed_off >= 0) o << ", Handed off: " << f.handed_off;
    // The seed's line says everything when the app accounts for the work; otherwise say why.
    bool app_explains = f.streams > 0 || f.requests > 0;
    if (v.state == GateState::Wait && !app_explains && !v.reason.empty()) o << " - " << v.reason;
    return o.str();
}

std::optional<std::chrono::milliseconds> next_class_change(const Snapshot& snap, uint16_t port,
                                                           const zdd_thresholds& t) {
    constexpr uint32_t kSlackMs = 20;  // the kernel's jiffy granularity (4 ms at HZ=250)
    // Only a crossing that changes the class counts: an idle keepalive passing stuck_after
    // with nothing in flight stays idle, and re-checking for it would walk for nothing.
    auto aged = [](zdd_classify_input in, uint32_t by) {
        for (uint32_t* age : {&in.last_send_ms, &in.last_recv_ms, &in.last_ack_ms})
            *age = *age > UINT32_MAX - by ? UINT32_MAX : *age + by;
        return in;
    };
    std::optional<uint32_t> best;
    std::vector<uint32_t> crossings;
    for (const auto& s : snap.sockets) {
        if (s.local.port != port || s.verdict.cls == ZDD_CLASS_CLOSING) continue;
        const uint32_t cls = classify(s.in, t).cls;
        crossings.clear();
        for (uint32_t age : {s.in.last_send_ms, s.in.last_recv_ms, s.in.last_ack_ms})
            for (uint32_t threshold : {t.idle_after_ms, t.stuck_after_ms})
                if (age < threshold && (!best || threshold - age < *best))
                    crossings.push_back(threshold - age);
        std::sort(crossings.begin(), crossings.end());
        for (uint32_t d : crossings)
            if (classify(aged(s.in, d), t).cls != cls) {
                best = d;
                break;
            }
    }
    if (!best) return std::nullopt;
    return std::chrono::milliseconds(*best + kSlackMs);
}

}  // namespace drainmon
