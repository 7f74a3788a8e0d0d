// drain-inspector wait: the drain gate standalone (a preStop hook for any orchestrator).
// It sleeps until a watched socket closes, the next class threshold a socket is due to cross,
// the next app poll, the next progress line or the timeout, whichever comes first.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <optional>

#include "app_report.hpp"
#include "drain_gate.hpp"
#include "inspector_commands.hpp"
#include "stop_signals.hpp"

namespace drainmon::inspector {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds seconds_ms(double s) {
    return milliseconds(static_cast<int64_t>(s * 1000.0));
}

enum class Woke { Event, Deadline, Signal };

// Sleeps until a close event, the deadline or SIGINT/SIGTERM. wait_close runs in short slices
// so a signal is seen within ~100 ms whatever the backend blocks on.
Woke sleep_until(Backend& backend, StopSignals& stop, Clock::time_point deadline) {
    for (;;) {
        if (stop.check()) return Woke::Signal;
        auto now = Clock::now();
        if (now >= deadline) return Woke::Deadline;
        auto slice = std::min<milliseconds>(std::chrono::ceil<milliseconds>(deadline - now),
                                            milliseconds(100));
        if (backend.wait_close(slice)) return Woke::Event;
    }
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

std::string elapsed(Clock::time_point start) {
    auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(ms) / 1000.0);
    return buf;
}

void list_sockets(const GateVerdict& v) {
    for (const auto& s : v.blocking) std::cout << "  left: " << describe_socket(s) << "\n";
    for (const auto& s : v.stuck) {
        bool blocking = std::any_of(v.blocking.begin(), v.blocking.end(), [&](const auto& b) {
            return b.local == s.local && b.remote == s.remote;
        });
        if (!blocking) std::cout << "  stuck (not blocking): " << describe_socket(s) << "\n";
    }
}

}  // namespace

int run_wait(const WaitOptions& o) {
    if (o.common.ports.size() != 1) throw UsageError("wait needs exactly one --port");
    const uint16_t port = o.common.ports.front();
    // Before anything that could start a thread or allocate kernel objects.
    StopSignals stop;

    std::optional<AppReportClient> app;
    if (!o.health_url.empty()) app.emplace(o.health_url, token_for(o), seconds_ms(o.app_timeout_s));

    auto backend = open_backend(o.common);
    backend->watch(port);
    const zdd_thresholds thresholds = backend_options(o.common).thresholds;
    const GatePolicy policy{o.idle_ok, o.strict};

    // Our own poll connections, left out of the kernel's report. Their client ends sit in
    // TIME_WAIT for a minute, so a 4-tuple is not reused while it is listed.
    std::deque<std::pair<Endpoint, Endpoint>> own_polls;
    constexpr size_t kMaxOwnPolls = 256;
    std::optional<AppReport> report;
    std::string app_note;

    const auto start = Clock::now();
    const auto deadline =
        o.timeout_s > 0 ? start + seconds_ms(o.timeout_s) : Clock::time_point::max();
    auto next_poll = start;
    auto next_progress = start;
    int64_t prev_connections = -1;

    for (;;) {
        auto now = Clock::now();
        bool polled = false;
        if (app && now >= next_poll) {
            AppPoll p = app->poll();
            if (p.connection) {
                own_polls.push_back(*p.connection);
                if (own_polls.size() > kMaxOwnPolls) own_polls.pop_front();
            }
            if (p.outcome == AppOutcome::Unauthorized)
                throw UsageError(p.reason + (o.token_file.empty()
                                                 ? " (check VIBE_DEPLOYMENT_TOKEN)"
                                                 : " (check " + o.token_file + ")"));
            report = p.outcome == AppOutcome::Report ? std::optional(p.report) : std::nullopt;
            app_note = p.outcome == AppOutcome::Report ? "" : "no app report: " + p.reason;
            polled = true;
            next_poll = now + seconds_ms(o.poll_interval_s);
        }

        Snapshot snap = backend->snapshot({port}, {own_polls.begin(), own_polls.end()});
        GateVerdict v = evaluate_gate(report, snap, port, policy);

        // A connection went away while the app still counted work: it may have been that
        // work, so ask the app now instead of at the next poll.
        bool app_blocks = report && (report->active_streams > 0 || report->active_requests > 0);
        bool fewer = prev_connections >= 0 && v.figures.connections < prev_connections;
        prev_connections = v.figures.connections;
        if (app && !polled && app_blocks && fewer) {
            next_poll = now;
            continue;
        }

        if (v.state != GateState::Wait) {
            std::cout << "port " << port << " " << (v.state == GateState::Gone ? "gone" : "drained")
                      << " after " << elapsed(start) << ": " << v.reason << "\n";
            list_sockets(v);
            std::cout << std::flush;
            return kExitOk;
        }
        if (now >= deadline) {
            std::cout << "timed out after " << elapsed(start) << " waiting for port " << port
                      << " to drain: " << v.reason << "\n";
            if (report)
                std::cout << "  app: " << report->active_streams << " streams, "
                          << report->active_requests << " requests\n";
            else if (!app_note.empty())
                std::cout << "  app: " << app_note << "\n";
            list_sockets(v);
            std::cout << std::flush;
            return kExitTimeout;
        }
        if (now >= next_progress) {
            auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - start).count();
            std::cerr << progress_line(v, waited) << (app_note.empty() ? "" : " [" + app_note + "]")
                      << std::endl;
            next_progress = now + seconds_ms(o.progress_interval_s);
        }

        auto wake = std::min(deadline, next_progress);
        if (app) wake = std::min(wake, next_poll);
        if (auto change = next_class_change(snap, port, thresholds))
            wake = std::min(wake, now + *change);
        if (sleep_until(*backend, stop, wake) == Woke::Signal) {
            int sig = stop.check();
            std::cerr << "[WARN] interrupted by " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                      << " while port " << port << " was not drained: " << v.reason << std::endl;
            return 128 + sig;
        }
    }
}

}  // namespace drainmon::inspector
