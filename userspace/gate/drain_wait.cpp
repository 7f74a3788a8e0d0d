#include "gate/drain_wait.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <sstream>

#include "gate/app_report.hpp"

namespace drainmon {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Until a close event (0), the deadline (0) or a stop request (its non-zero value). Short
// slices so a stop is seen within ~100 ms whatever the backend blocks on.
int sleep_until(Backend& backend, const std::function<int()>& interrupted,
                Clock::time_point deadline) {
    for (;;) {
        if (int v = interrupted()) return v;
        auto now = Clock::now();
        if (now >= deadline) return 0;
        auto slice = std::min<milliseconds>(std::chrono::ceil<milliseconds>(deadline - now),
                                            milliseconds(100));
        if (backend.wait_close(slice)) return 0;
    }
}

bool app_blocks(const std::optional<AppReport>& r) {
    return r && (r->active_streams > 0 || r->active_requests > 0);
}

}  // namespace

std::string describe_sockets(const Snapshot& snap, uint16_t port, const std::string& prefix) {
    std::string out;
    for (const auto& s : snap.sockets)
        if (s.local.port == port) out += prefix + describe_socket(s) + "\n";
    return out;
}

DrainResult wait_for_drain(Backend& backend, const DrainWaitOptions& o, std::ostream& log,
                           const std::function<int()>& interrupted) {
    std::unique_ptr<AppReportClient> app;
    if (!o.token.empty())
        app = std::make_unique<AppReportClient>(
            o.health_url.empty()
                ? "http://" + o.host + ":" + std::to_string(o.port) + "/health/deployment"
                : o.health_url,
            o.token, o.app_timeout);
    backend.watch(o.port);

    // Our own poll connections, left out of the kernel's report. Their client ends sit in
    // TIME_WAIT for a minute, so a 4-tuple is not reused while it is listed.
    std::deque<std::pair<Endpoint, Endpoint>> own_polls;
    constexpr size_t kMaxOwnPolls = 256;

    DrainResult r;
    const auto start = Clock::now();
    const auto deadline = o.timeout.count() > 0 ? start + o.timeout : Clock::time_point::max();
    auto next_poll = start;
    auto next_progress = start;
    std::string last_reason;
    int64_t prev_connections = -1;
    auto waited = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

    for (;;) {
        auto now = Clock::now();
        bool polled = false;
        if (app && now >= next_poll) {
            AppPoll p = app->poll();
            if (p.connection) {
                own_polls.push_back(*p.connection);
                if (own_polls.size() > kMaxOwnPolls) own_polls.pop_front();
            }
            if (p.outcome == AppOutcome::Report) {
                r.app = p.report;
                r.app_note.clear();
            } else {
                r.app.reset();
                r.app_note = p.outcome == AppOutcome::Unauthorized
                                 ? "the app refused the token (401)"
                                 : "no app report: " + p.reason;
                if (p.outcome == AppOutcome::Unauthorized && o.unauthorized_ends) {
                    r.end = DrainEnd::unauthorized;
                    r.app_note = p.reason;
                    r.waited_s = waited();
                    return r;
                }
            }
            polled = true;
            next_poll = now + o.app_poll;
        }

        r.snapshot = backend.snapshot({o.port}, {own_polls.begin(), own_polls.end()});
        r.verdict = evaluate_gate(r.app, r.snapshot, o.port, o.policy);
        r.waited_s = waited();

        // A connection went away while the app still counted work: ask the app now.
        bool fewer = prev_connections >= 0 && r.verdict.figures.connections < prev_connections;
        prev_connections = r.verdict.figures.connections;
        if (app && !polled && app_blocks(r.app) && fewer) {
            next_poll = now;
            continue;
        }

        // --min-drain: nothing blocks, but routing changes may still be on their way.
        const auto min_end = start + o.min_drain;
        const bool held = r.verdict.state != GateState::Wait && now < min_end && now < deadline;
        if (r.verdict.state != GateState::Wait && !held) {
            r.end = r.verdict.state == GateState::Gone ? DrainEnd::gone : DrainEnd::drained;
            return r;
        }
        if (now >= deadline) {
            r.end = DrainEnd::timed_out;
            return r;
        }
        if (now >= next_progress || r.verdict.reason != last_reason) {
            std::string line = drainmon::progress_line(r.verdict, static_cast<int64_t>(r.waited_s));
            if (held)
                line +=
                    " - " + r.verdict.reason + "; --min-drain holds for " +
                    std::to_string(std::chrono::ceil<std::chrono::seconds>(min_end - now).count()) +
                    "s more";
            if (!r.app_note.empty()) line += " [" + r.app_note + "]";
            log << line << std::endl;
            if (o.on_progress) o.on_progress(r);
            last_reason = r.verdict.reason;
            next_progress = now + o.progress_every;
        }

        auto wake = std::min(deadline, next_progress);
        if (held) wake = std::min(wake, min_end);
        if (app) wake = std::min(wake, next_poll);
        if (auto change = next_class_change(r.snapshot, o.port, o.thresholds))
            wake = std::min(wake, now + *change);
        if (int v = sleep_until(backend, interrupted, wake)) {
            r.end = DrainEnd::interrupted;
            r.signal = v;
            r.waited_s = waited();
            return r;
        }
    }
}

}  // namespace drainmon
