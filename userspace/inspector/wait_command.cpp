// drain-inspector wait: the drain gate standalone (a preStop hook for any orchestrator), run by
// the same loop as zdd's drain (drain_wait.hpp).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>

#include <spdlog/spdlog.h>

#include "gate/app_report.hpp"
#include "gate/drain_gate.hpp"
#include "gate/drain_wait.hpp"
#include "inspector/inspector_commands.hpp"
#include "inspector/stop_signals.hpp"

namespace drainmon::inspector {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds seconds_ms(double s) {
    return milliseconds(static_cast<int64_t>(s * 1000.0));
}

std::string token_for(const WaitOptions& o) {
    if (!o.token_file.empty()) {
        try {
            return read_token_file(o.token_file);
        } catch (const TokenFileError& e) {
            throw UsageError(e.what());
        }
    }
    if (const char* env = std::getenv("VIBE_DEPLOYMENT_TOKEN"); env && *env) return env;
    throw UsageError(
        "--health-url needs --token-file F (or VIBE_DEPLOYMENT_TOKEN in the environment)");
}

void list_sockets(const GateVerdict& v) {
    for (const auto& s : v.blocking) std::cout << "  left: " << describe_socket(s) << "\n";
    for (const auto& s : v.stuck) {
        bool blocking = std::any_of(v.blocking.begin(), v.blocking.end(), [&](const auto& b) {
            return b.local == s.local && b.remote == s.remote;
        });
        if (!blocking) std::cout << "  stuck (not blocking): " << describe_socket(s) << "\n";
    }
    for (const auto& s : v.ignored)
        std::cout << "  ignored (--ignore-remote): " << describe_socket(s) << "\n";
}

}  // namespace

int run_wait(const WaitOptions& o) {
    if (o.common.ports.size() != 1) throw UsageError("wait needs exactly one --port");
    const uint16_t port = o.common.ports.front();
    // Before anything that could start a thread or allocate kernel objects.
    StopSignals stop;

    DrainWaitOptions w;
    w.port = port;
    if (!o.health_url.empty()) {
        w.token = token_for(o);
        w.health_url = o.health_url;
    }
    w.app_timeout = seconds_ms(o.app_timeout_s);
    w.app_poll = seconds_ms(o.poll_interval_s);
    w.progress_every = seconds_ms(o.progress_interval_s);
    w.timeout = seconds_ms(o.timeout_s);
    w.unauthorized_ends = true;  // a wrong token is a configuration error here: exit 2
    w.handoff = o.handoff;
    w.policy = GatePolicy{o.idle_ok, o.strict};
    try {
        for (const auto& c : o.ignore_remote) w.policy.ignore_remote.push_back(parse_peer_cidr(c));
    } catch (const CidrError& e) {
        throw UsageError(e.what());
    }
    w.min_drain = seconds_ms(o.min_drain_s);
    w.thresholds = backend_options(o.common).thresholds;

    auto backend = open_backend(o.common);
    const DrainResult r = wait_for_drain(*backend, w, std::cerr, [&] { return stop.check(); });
    const GateVerdict& v = r.verdict;
    // What the wait cost the monitor, for people and tests that bound it (issue 10).
    if (r.end != DrainEnd::unauthorized)
        spdlog::info("monitor {}: {} walks, {} counter reads{}", backend->name(), r.walks,
                     r.count_reads, r.from_counts ? "; the end came from the counters" : "");
    char took[32];
    std::snprintf(took, sizeof took, "%.2fs", r.waited_s);

    switch (r.end) {
        case DrainEnd::drained:
        case DrainEnd::gone:
            std::cout << "port " << port << " " << (r.end == DrainEnd::gone ? "gone" : "drained")
                      << " after " << took << ": " << v.reason;
            if (v.figures.handed_off >= 0)
                std::cout << "; " << v.figures.handed_off
                          << (v.figures.handed_off == 1 ? " stream" : " streams") << " handed off";
            std::cout << "\n";
            list_sockets(v);
            std::cout << std::flush;
            return kExitOk;
        case DrainEnd::timed_out:
            std::cout << "timed out after " << took << " waiting for port " << port
                      << " to drain: " << v.reason << "\n";
            if (r.app)
                std::cout << "  app: " << r.app->active_streams << " streams, "
                          << r.app->active_requests << " requests\n";
            else if (!r.app_note.empty())
                std::cout << "  app: " << r.app_note << "\n";
            list_sockets(v);
            std::cout << std::flush;
            return kExitTimeout;
        case DrainEnd::unauthorized:
            throw UsageError(r.app_note + (o.token_file.empty() ? " (check VIBE_DEPLOYMENT_TOKEN)"
                                                                : " (check " + o.token_file + ")"));
        case DrainEnd::interrupted:
            break;
    }
    spdlog::warn("interrupted by {} while port {} was not drained: {}",
                 r.signal == SIGINT ? "SIGINT" : "SIGTERM", port, v.reason);
    return 128 + r.signal;
}

}  // namespace drainmon::inspector
