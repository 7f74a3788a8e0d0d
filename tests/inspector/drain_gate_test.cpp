// The drain gate's rules (docs/design.md "The drain gate"), one table row per rule and edge.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gate/drain_gate.hpp"

using namespace drainmon;

namespace {

constexpr uint16_t kPort = 8080;

SocketSample sample(uint16_t local_port, uint16_t remote_port, uint32_t state, zdd_class cls,
                    zdd_reason reason) {
    SocketSample s;
    s.local = {AF_INET, "127.0.0.1", local_port};
    s.remote = {AF_INET, "127.0.0.1", remote_port};
    s.in.state = state;
    s.verdict = {static_cast<__u32>(cls), static_cast<__u32>(reason)};
    return s;
}

struct Kernel {
    int active = 0, idle = 0, stuck = 0, closing = 0, other_port_active = 0;
    int listeners = 1;
};

Snapshot kernel_report(const Kernel& k) {
    Snapshot snap;
    snap.backend = "test";
    PortCounts pc;
    pc.port = kPort;
    pc.listeners = k.listeners;
    uint16_t remote = 40000;
    for (int i = 0; i < k.active; ++i)
        snap.sockets.push_back(
            sample(kPort, remote++, ZDD_TCP_ESTABLISHED, ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA));
    for (int i = 0; i < k.idle; ++i)
        snap.sockets.push_back(
            sample(kPort, remote++, ZDD_TCP_ESTABLISHED, ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE));
    for (int i = 0; i < k.stuck; ++i)
        snap.sockets.push_back(
            sample(kPort, remote++, ZDD_TCP_CLOSE_WAIT, ZDD_CLASS_STUCK, ZDD_REASON_CLOSE_WAIT));
    for (int i = 0; i < k.closing; ++i)
        snap.sockets.push_back(
            sample(kPort, remote++, ZDD_TCP_FIN_WAIT1, ZDD_CLASS_CLOSING, ZDD_REASON_CLOSING));
    for (int i = 0; i < k.other_port_active; ++i)
        snap.sockets.push_back(
            sample(9090, remote++, ZDD_TCP_ESTABLISHED, ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA));
    pc.established = k.active + k.idle;
    pc.close_wait = k.stuck;
    pc.closing = k.closing;
    snap.ports.push_back(pc);
    return snap;
}

std::optional<AppReport> app(int streams, int requests) {
    AppReport r;
    r.active_streams = streams;
    r.active_requests = requests;
    return r;
}

struct Row {
    const char* name;
    std::optional<AppReport> app;
    Kernel kernel;
    GatePolicy policy;
    GateState want;
    size_t want_blocking;
    const char* reason_has;    // must appear in the reason
    const char* reason_lacks;  // must not appear ("" for none)
};

}  // namespace

TEST_CASE("drain gate: every rule as a table") {
    const std::vector<Row> rows = {
        // Rule 1: the app's streams and requests hold the drain, even when the kernel is quiet.
        {"app streams", app(1, 0), {}, {}, GateState::Wait, 0, "app reports 1 stream", ""},
        {"app requests", app(0, 2), {.idle = 1}, {}, GateState::Wait, 0, "2 requests", ""},
        // Rule 2: kernel-active sockets hold it whatever the app says.
        {"active, app says 0",
         app(0, 0),
         {.active = 2},
         {},
         GateState::Wait,
         2,
         "traffic the app does not count",
         ""},
        {"active, no app",
         std::nullopt,
         {.active = 1},
         {},
         GateState::Wait,
         1,
         "1 active socket",
         "traffic the app does not count"},
        {"active, idle_ok",
         app(0, 0),
         {.active = 1},
         {.idle_ok = true},
         GateState::Wait,
         1,
         "active",
         ""},
        // Rule 3: idle blocks only without an app report, unless idle_ok.
        {"idle, no app", std::nullopt, {.idle = 2}, {}, GateState::Wait, 2, "no app report", ""},
        {"idle, no app, idle_ok",
         std::nullopt,
         {.idle = 2},
         {.idle_ok = true},
         GateState::Drained,
         0,
         "idle",
         ""},
        {"idle, app says 0", app(0, 0), {.idle = 3}, {}, GateState::Drained, 0, "drained", ""},
        // Rule 4: stuck never blocks unless strict, and is listed either way.
        {"stuck", app(0, 0), {.stuck = 1}, {}, GateState::Drained, 0, "1 stuck socket", ""},
        {"stuck, no app", std::nullopt, {.stuck = 1}, {}, GateState::Drained, 0, "stuck", ""},
        {"stuck, strict",
         app(0, 0),
         {.stuck = 1},
         {.strict = true},
         GateState::Wait,
         1,
         "(--strict)",
         ""},
        // Rule 5 and gone.
        {"nothing", app(0, 0), {}, {}, GateState::Drained, 0, "drained", ""},
        {"nothing, no app", std::nullopt, {}, {}, GateState::Drained, 0, "drained", ""},
        {"closing only", std::nullopt, {.closing = 3}, {}, GateState::Drained, 0, "drained", ""},
        {"other port's traffic",
         std::nullopt,
         {.other_port_active = 4},
         {},
         GateState::Drained,
         0,
         "drained",
         ""},
        {"gone", std::nullopt, {.listeners = 0}, {}, GateState::Gone, 0, "no LISTEN socket", ""},
        {"no listener, still active",
         std::nullopt,
         {.active = 1, .listeners = 0},
         {},
         GateState::Wait,
         1,
         "no LISTEN socket left",
         ""},
    };
    for (const auto& row : rows) {
        INFO("row: " << row.name);
        GateVerdict v = evaluate_gate(row.app, kernel_report(row.kernel), kPort, row.policy);
        INFO("reason: " << v.reason);
        CHECK(gate_state_name(v.state) == std::string(gate_state_name(row.want)));
        CHECK(v.blocking.size() == row.want_blocking);
        CHECK(v.reason.find(row.reason_has) != std::string::npos);
        if (*row.reason_lacks) CHECK(v.reason.find(row.reason_lacks) == std::string::npos);
        // Stuck sockets are always listed with their 4-tuple.
        CHECK(v.stuck.size() == static_cast<size_t>(row.kernel.stuck));
    }
}

TEST_CASE("drain gate: the verdict carries the progress figures") {
    GateVerdict v =
        evaluate_gate(app(1, 2), kernel_report({.active = 3, .idle = 2, .stuck = 1}), kPort, {});
    CHECK(v.figures.connections == 6);
    CHECK(v.figures.streams == 1);
    CHECK(v.figures.requests == 2);
    CHECK(v.figures.active == 3);
    CHECK(v.figures.idle == 2);
    CHECK(v.figures.stuck == 1);
    CHECK(progress_line(v, 135) ==
          "[INFO] Waiting [2m 15s]... Connections: 6, Requests: 2, "
          "Streams: 1 (Active: 3, Idle: 2, Stuck: 1)");

    // A drain that asked for a handoff adds the streams handed over after the figures.
    GateVerdict handed = v;
    handed.figures.handed_off = 198;
    CHECK(progress_line(handed, 2) ==
          "[INFO] Waiting [0m 2s]... Connections: 6, Requests: 2, "
          "Streams: 1 (Active: 3, Idle: 2, Stuck: 1), Handed off: 198");
    CHECK(v.figures.handed_off == -1);  // the gate never sets it: the drain wait does

    GateVerdict none = evaluate_gate(std::nullopt, kernel_report({.active = 1}), kPort, {});
    CHECK(none.figures.requests == -1);
    CHECK(progress_line(none, 5).find("Requests: n/a, Streams: n/a") != std::string::npos);
    // Work the app does not report is explained after the figures.
    CHECK(progress_line(none, 5).find(") - ") != std::string::npos);
}

TEST_CASE("drain gate: listed sockets name 4-tuple, state, class and reason") {
    GateVerdict v = evaluate_gate(app(0, 0), kernel_report({.stuck = 1}), kPort, {});
    REQUIRE(v.stuck.size() == 1);
    std::string d = describe_socket(v.stuck[0]);
    CHECK(d.find("127.0.0.1:8080 <- 127.0.0.1:40000") != std::string::npos);
    CHECK(d.find("CLOSE_WAIT") != std::string::npos);
    CHECK(d.find("stuck/close_wait") != std::string::npos);
}

TEST_CASE("drain gate: the next class change counts only crossings that change the class") {
    const zdd_thresholds t = default_thresholds();  // idle 5 s, push gap 1 s, stuck 30 s
    auto one = [&](zdd_classify_input in) {
        Snapshot snap;
        SocketSample s = sample(kPort, 40000, in.state, ZDD_CLASS_ACTIVE, ZDD_REASON_OTHER);
        s.in = in;
        s.verdict = classify(in, t);
        snap.sockets.push_back(s);
        return next_class_change(snap, kPort, t);
    };
    // Answered 2 s ago: active until idle_after, then idle (20 ms of slack for jiffies).
    auto recent = one({ZDD_TCP_ESTABLISHED, 2000, 2010, 2000, 0, 0, 0, 0, 0, 0, 65535});
    REQUIRE(recent);
    CHECK(recent->count() == 3000 + 20);
    // An idle keepalive with nothing in flight stays idle past stuck_after: no timer.
    CHECK_FALSE(one({ZDD_TCP_ESTABLISHED, 20000, 20010, 20000, 0, 0, 0, 0, 0, 0, 65535}));
    // Bytes in flight unacked for 10 s: stuck at stuck_after.
    auto stalled = one({ZDD_TCP_ESTABLISHED, 10000, 60000, 10000, 100, 100, 0, 0, 0, 0, 65535});
    REQUIRE(stalled);
    CHECK(stalled->count() == 20000 + 20);
    // Sockets of other ports and closing ones never set the timer.
    CHECK_FALSE(one({ZDD_TCP_FIN_WAIT1, 10, 10, 10, 0, 0, 0, 0, 0, 0, 65535}));
}

TEST_CASE("drain gate: --ignore-remote peers are listed apart, in no class, and hold nothing") {
    Snapshot k = kernel_report({.active = 2});
    for (uint16_t remote : {50001, 50002}) {
        SocketSample agent =
            sample(kPort, remote, ZDD_TCP_ESTABLISHED, ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA);
        agent.remote.ip = "10.1.2.3";
        k.sockets.push_back(agent);
    }
    GatePolicy policy;
    policy.ignore_remote = {parse_peer_cidr("10.1.0.0/16")};
    GateVerdict v = evaluate_gate(app(0, 0), k, kPort, policy);
    CHECK(v.figures.active == 2);  // the agents' two are not counted as active
    CHECK(v.figures.ignored == 2);
    REQUIRE(v.ignored.size() == 2);
    CHECK(describe_socket(v.ignored[0]).find("<- 10.1.2.3:50001") != std::string::npos);

    // Only the agents left: nothing holds the drain, whatever their class.
    Snapshot only_agents = kernel_report({});
    for (size_t i = 2; i < k.sockets.size(); ++i) only_agents.sockets.push_back(k.sockets[i]);
    CHECK(evaluate_gate(std::nullopt, only_agents, kPort, policy).state == GateState::Drained);
    CHECK(evaluate_gate(std::nullopt, only_agents, kPort, {}).state == GateState::Wait);
}
