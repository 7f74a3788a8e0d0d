// The drain wait of a deploy (DESIGN.md "The drain gate", deploy step 5): the kernel monitor
// and the app's own report, decided by drainmon's gate, with the seed's progress line. It
// wakes at once on the monitor's close event, polls the app every --app-poll, re-checks when
// a socket is due to change class, and stops at the timeout or on SIGINT/SIGTERM/SIGHUP.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "backend.hpp"
#include "drain_gate.hpp"

namespace zdd {

struct DrainWaitOptions {
    std::string host = "127.0.0.1";        // where the old instance answers /health/deployment
    uint16_t port = 0;                     // the old instance's port
    std::string token;                     // for /health/deployment; empty = kernel report only
    std::chrono::milliseconds timeout{0};  // 0 = wait forever
    std::chrono::milliseconds app_poll{1000};
    std::chrono::milliseconds progress_every{5000};
    drainmon::GatePolicy policy;
    zdd_thresholds thresholds = drainmon::default_thresholds();
};

enum class DrainEnd { drained, gone, timed_out, interrupted };

struct DrainResult {
    DrainEnd end = DrainEnd::drained;
    drainmon::GateVerdict verdict;           // the last verdict
    drainmon::Snapshot snapshot;             // the last kernel report (own polls left out)
    std::optional<drainmon::AppReport> app;  // the last app report, if any
    std::string app_note;                    // why there was no app report ("" when there was)
    int signal = 0;                          // when interrupted
    double waited_s = 0;
};

// `interrupted` returns a signal number once zdd was asked to stop (0 otherwise); it is
// checked at least every 100 ms.
DrainResult wait_for_drain(drainmon::Backend& backend, const DrainWaitOptions& o, std::ostream& log,
                           const std::function<int()>& interrupted);

// The sockets of `port` in the snapshot, one "  cut: <describe_socket>" line each.
std::string describe_sockets(const drainmon::Snapshot& snap, uint16_t port,
                             const std::string& prefix);

}  // namespace zdd
