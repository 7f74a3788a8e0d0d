// The drain wait (docs/design.md "The drain gate"): the kernel monitor and the app's own report,
// decided by the gate, with the seed's progress line. zdd's deploy step 5 and
// `drain-inspector wait` both run this one loop.
//
// What each wake costs (issue 10): a close event reads the port's counters only
// (Backend::counts); when they say no connection is left, the wait ends at once from them.
// A per-socket walk happens only when its answer is needed: the first view, a socket due to
// change class, a progress line, the counts saying every blocking socket may be gone, or the
// app's report changing so that the wait could end. Walks are coalesced (one per 200 ms at
// most, and no sooner than 10x the last walk's duration after it), so the loop's CPU is
// bounded at any socket count. "Drained" comes only from a fresh walk or from zero counts;
// "wait" may come from an older walk. Each progress line is one walk's view: its Connections
// are the ESTABLISHED/CLOSE_WAIT sockets of that walk, which are exactly Active+Idle+Stuck.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "monitor/backend.hpp"
#include "gate/drain_gate.hpp"
#include "gate/handoff.hpp"

namespace drainmon {

struct DrainResult;

struct DrainWaitOptions {
    std::string host = "127.0.0.1";  // where the old instance answers /health/deployment
    uint16_t port = 0;               // the old instance's port
    std::string token;               // for /health/deployment; empty = kernel report only
    std::string health_url;          // empty = http://host:port/health/deployment
    std::chrono::milliseconds app_timeout{2000};
    bool unauthorized_ends = false;  // a 401 ends the wait (DrainEnd::unauthorized)
    // --handoff: before the first look, POST the handoff (handoff.hpp) with the token, say how
    // it went in one line, then drain as always. handoff_url empty = the report URL's
    // /handoff (health_url's, or http://host:port/health/deployment/handoff).
    bool handoff = false;
    std::string handoff_url;
    std::chrono::milliseconds timeout{0};  // 0 = wait forever
    // --min-drain: never declare drained sooner than this after the start (nothing blocking
    // before then keeps the wait going; the timeout still ends it).
    std::chrono::milliseconds min_drain{0};
    std::chrono::milliseconds app_poll{1000};
    std::chrono::milliseconds progress_every{5000};
    GatePolicy policy;
    zdd_thresholds thresholds = default_thresholds();
    // Called at each progress line with the current figures (zdd's --metrics-textfile).
    std::function<void(const DrainResult&)> on_progress;
};

enum class DrainEnd { drained, gone, timed_out, interrupted, unauthorized };

struct DrainResult {
    DrainEnd end = DrainEnd::drained;
    GateVerdict verdict;                   // the last verdict
    Snapshot snapshot;                     // the last kernel report (own polls left out)
    std::optional<AppReport> app;          // the last app report, if any
    std::string app_note;                  // why there was no app report ("" when there was)
    std::optional<HandoffResult> handoff;  // when the wait asked for a handoff
    int signal = 0;                        // when interrupted
    double waited_s = 0;
    uint64_t walks = 0;        // per-socket walks this wait asked the backend for
    uint64_t count_reads = 0;  // counts() reads (one per wake)
    bool from_counts = false;  // the end came from the counters alone (no socket was left)
};

// `interrupted` returns a non-zero value (a signal number, say) once the caller wants the wait
// to end, else 0; it is checked at least every 100 ms and its value lands in DrainResult::signal.
DrainResult wait_for_drain(Backend& backend, const DrainWaitOptions& o, std::ostream& log,
                           const std::function<int()>& interrupted);

// The sockets of `port` in the snapshot, one "  cut: <describe_socket>" line each.
std::string describe_sockets(const Snapshot& snap, uint16_t port, const std::string& prefix);

}  // namespace drainmon
