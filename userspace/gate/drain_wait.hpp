// The drain wait (DESIGN.md "The drain gate"): the kernel monitor and the app's own report,
// decided by the gate, with the seed's progress line. It wakes at once on the monitor's close
// event, polls the app every app_poll, re-checks when a socket is due to change class, and
// stops at the timeout or when asked to. zdd's deploy step 5 and `drain-inspector wait` both
// run this one loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "monitor/backend.hpp"
#include "gate/drain_gate.hpp"

namespace drainmon {

struct DrainResult;

struct DrainWaitOptions {
    std::string host = "127.0.0.1";  // where the old instance answers /health/deployment
    uint16_t port = 0;               // the old instance's port
    std::string token;               // for /health/deployment; empty = kernel report only
    std::string health_url;          // empty = http://host:port/health/deployment
    std::chrono::milliseconds app_timeout{2000};
    bool unauthorized_ends = false;        // a 401 ends the wait (DrainEnd::unauthorized)
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
    GateVerdict verdict;           // the last verdict
    Snapshot snapshot;             // the last kernel report (own polls left out)
    std::optional<AppReport> app;  // the last app report, if any
    std::string app_note;          // why there was no app report ("" when there was)
    int signal = 0;                // when interrupted
    double waited_s = 0;
};

// `interrupted` returns a non-zero value (a signal number, say) once the caller wants the wait
// to end, else 0; it is checked at least every 100 ms and its value lands in DrainResult::signal.
DrainResult wait_for_drain(Backend& backend, const DrainWaitOptions& o, std::ostream& log,
                           const std::function<int()>& interrupted);

// The sockets of `port` in the snapshot, one "  cut: <describe_socket>" line each.
std::string describe_sockets(const Snapshot& snap, uint16_t port, const std::string& prefix);

}  // namespace drainmon
