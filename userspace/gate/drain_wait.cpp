#include "gate/drain_wait.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <memory>
#include <set>
#include <sstream>

#include "common/logging.hpp"
#include "gate/app_report.hpp"
#include "gate/http_client.hpp"

namespace drainmon {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMinWalkGap{200};       // at most one walk per this
constexpr int kWalkDutyFactor = 10;            // and no sooner than 10x its duration after the last
constexpr milliseconds kMinEarlyPollGap{100};  // early app polls on fewer connections
constexpr milliseconds kViewMaxAge{30000};     // a progress line's classes are never older

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

// What of an app report a progress line and the gate read.
std::array<int64_t, 4> app_figures(const std::optional<AppReport>& r) {
    if (!r) return {-1, -1, -1, -1};
    return {r->active_streams, r->active_requests, r->ready_for_shutdown ? 1 : 0, r->handed_off};
}

bool app_blocks(const std::optional<AppReport>& r) {
    return r && (r->active_streams > 0 || r->active_requests > 0);
}

int64_t connections(const PortCounts& c) {
    return c.established + c.close_wait;
}

// The gate's own poll connections, left out of every walk by their 4-tuple. Their client ends
// sit in TIME_WAIT for a minute, so a 4-tuple is not reused while it is listed.
class OwnPolls {
  public:
    void add(const std::pair<Endpoint, Endpoint>& c) {
        polls_.push_back({canonical(c.first).str(), canonical(c.second).str()});
        if (polls_.size() > kMax) polls_.pop_front();
        remote_ports_.clear();
        for (const auto& p : polls_) remote_ports_.insert(port_of(p.second));
    }
    bool contains(const SocketSample& s) const {
        if (!remote_ports_.count(s.remote.port)) return false;  // the cheap test first
        const std::string l = s.local.str(), r = s.remote.str();
        return std::any_of(polls_.begin(), polls_.end(),
                           [&](const auto& p) { return p.first == l && p.second == r; });
    }

  private:
    static uint16_t port_of(const std::string& ep) {
        return static_cast<uint16_t>(std::stoul(ep.substr(ep.rfind(':') + 1)));
    }
    static constexpr size_t kMax = 256;
    std::deque<std::pair<std::string, std::string>> polls_;
    std::set<uint16_t> remote_ports_;
};

// One walk of the port: the gate's input and the progress line's figures from the same
// sockets. The counts of the port are the walk's own (ESTABLISHED/CLOSE_WAIT sockets it saw,
// by class), so Connections always equals Active + Idle + Stuck; LISTEN and the overflow
// flags come from the backend's report of that walk.
struct WalkView {
    Snapshot snap;
    int64_t own = 0;  // our own poll connections still open at the walk (not in snap)
    Clock::time_point at;
    Clock::duration took{};
};

// `expected`: the counters' figure, to size the sockets' vector once.
WalkView walk_port(Backend& backend, uint16_t port, const OwnPolls& own, int64_t expected) {
    WalkView v;
    const auto t0 = Clock::now();
    std::vector<SocketSample> sockets;
    sockets.reserve(static_cast<size_t>(std::max<int64_t>(0, expected)) + 64);
    backend.walk(
        {port},
        [&](const SocketSample& s) {
            if (s.local.port != port || s.in.state == ZDD_TCP_LISTEN) return;  // counted apart
            if (own.contains(s)) {
                if (s.in.state == ZDD_TCP_ESTABLISHED || s.in.state == ZDD_TCP_CLOSE_WAIT) ++v.own;
                return;
            }
            sockets.push_back(s);
        },
        v.snap);
    v.at = Clock::now();
    v.took = v.at - t0;
    v.snap.sockets = std::move(sockets);
    v.snap.walks = backend.walks();
    PortCounts pc;
    pc.port = port;
    for (const auto& p : v.snap.ports)
        if (p.port == port) pc = p;
    pc.established = pc.close_wait = pc.closing = 0;
    for (const auto& s : v.snap.sockets) {
        if (s.verdict.cls == ZDD_CLASS_CLOSING)
            ++pc.closing;
        else if (s.in.state == ZDD_TCP_CLOSE_WAIT)
            ++pc.close_wait;
        else
            ++pc.established;  // ESTABLISHED (or a child still in SYN_RECV): it carries work
    }
    v.snap.ports = {pc};
    tally_classes(v.snap);
    return v;
}

// How many of the view's connections would hold the drain under this app report: the gate's
// rules 2-4 from the view's class counts.
int64_t blocking(const PortCounts& c, const std::optional<AppReport>& app, const GatePolicy& p) {
    return c.active + (!app && !p.idle_ok ? c.idle : 0) + (p.strict ? c.stuck : 0);
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
            o.health_url.empty() ? http_url(o.host, o.port, "/health/deployment") : o.health_url,
            o.token, o.app_timeout);
    backend.watch(o.port);

    OwnPolls own_polls;
    DrainResult r;
    if (o.handoff) {
        // After the monitor watches the port, so the streams are seen to leave.
        const std::string url = !o.handoff_url.empty() ? o.handoff_url
                                : !o.health_url.empty()
                                    ? handoff_url_for(o.health_url)
                                    : http_url(o.host, o.port, "/health/deployment/handoff");
        r.handoff = request_handoff(url, o.token, o.app_timeout);
        if (r.handoff->connection) own_polls.add(*r.handoff->connection);
        log << handoff_line(*r.handoff, url) << std::endl;
    }
    // The app's handedOff on the progress line, in a drain that asked for a handoff.
    auto gate = [&](const Snapshot& kernel) {
        GateVerdict v = evaluate_gate(r.app, kernel, o.port, o.policy);
        if (o.handoff && r.app) v.figures.handed_off = r.app->handed_off;
        return v;
    };
    const auto start = Clock::now();
    const auto deadline = o.timeout.count() > 0 ? start + o.timeout : Clock::time_point::max();
    const auto min_end = start + o.min_drain;
    auto min_drain_holds = [&](Clock::time_point t) { return t < min_end && t < deadline; };
    auto next_poll = start;
    auto last_poll = Clock::time_point::min();
    auto next_progress = start;
    std::string last_reason;
    int64_t prev_count = -1;
    auto waited = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

    std::optional<WalkView> view;
    int64_t polls_since_walk = 0;                   // own polls the last walk could not see
    auto next_walk_ok = start;                      // coalescing: no walk before this
    std::optional<Clock::time_point> class_change;  // when the view's first class changes
    PortCounts view_counts;                         // the last walk's counts and classes
    bool view_incomplete = false;
    int64_t view_count = -1;            // the counters' figure at the last walk
    std::array<int64_t, 4> view_app{};  // and the app's (app_figures())
    // The count at or under which every socket the last view saw as blocking may be gone: what
    // did not block, plus our own polls that may still be open. A walk is wanted there, and
    // the kernel wakes us for the close that gets there.
    auto blocking_gone_at = [&] {
        return connections(view_counts) - blocking(view_counts, r.app, o.policy) + view->own +
               polls_since_walk;
    };

    for (;;) {
        auto now = Clock::now();
        bool polled = false;
        if (app && now >= next_poll) {
            AppPoll p = app->poll();
            if (p.connection) {
                own_polls.add(*p.connection);
                ++polls_since_walk;
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
            last_poll = now;
            next_poll = now + o.app_poll;
            now = Clock::now();
        }

        // The counters: O(1), every wake. Our own lingering polls are in them.
        const PortCounts counts = backend.counts(o.port);
        ++r.count_reads;
        const int64_t count = connections(counts);
        r.waited_s = waited();

        // A connection went away while the app still counted work: ask the app soon (at once
        // for the last one), not once per close.
        const bool fewer = prev_count >= 0 && count < prev_count;
        prev_count = count;
        if (app && !polled && app_blocks(r.app) && fewer) {
            if (count == 0 || now - last_poll >= kMinEarlyPollGap) {
                next_poll = now;
                continue;
            }
            next_poll = std::min(next_poll, last_poll + kMinEarlyPollGap);
        }

        // --min-drain: nothing blocks, but routing changes may still be on their way.
        bool held = false;
        // No connection at all (ours included): decide from the counters, no walk. Not when a
        // walk saw the counters incomplete (sockets beyond the map would be missed).
        if (count == 0 && !view_incomplete) {
            Snapshot only_counts;
            only_counts.backend = backend.name();
            only_counts.ports = {counts};
            only_counts.ports.front().port = o.port;
            only_counts.walks = backend.walks();
            GateVerdict v = gate(only_counts);
            if (v.state != GateState::Wait) {
                r.snapshot = std::move(only_counts);
                r.verdict = std::move(v);
                r.end = r.verdict.state == GateState::Gone ? DrainEnd::gone : DrainEnd::drained;
                r.from_counts = true;
                if (!min_drain_holds(now)) return r;
                held = true;
            }
        }

        // Walk only when a fresh view is needed; a "wait" from the last view stands otherwise.
        // A progress line needs one only when something the view was made from moved (the
        // count, the app's figures) or the view is old: nothing else changes a class but data
        // on an idle connection, which can only make the gate wait longer.
        const bool at_deadline = now >= deadline;
        const bool progress_due = now >= next_progress;
        const bool view_stale = !view || count != view_count || app_figures(r.app) != view_app ||
                                now - view->at >= kViewMaxAge;
        bool want_walk = !view || at_deadline || (progress_due && view_stale) ||
                         (class_change && now >= *class_change);
        if (view && !app_blocks(r.app) && count <= blocking_gone_at()) want_walk = true;
        const bool walk_now = want_walk && (!view || at_deadline || now >= next_walk_ok);
        if (walk_now) {
            // The last view's sockets go first: one view in memory at a time, not two.
            std::vector<SocketSample>().swap(r.snapshot.sockets);
            for (auto* list : {&r.verdict.blocking, &r.verdict.stuck, &r.verdict.ignored})
                std::vector<SocketSample>().swap(*list);
            view = walk_port(backend, o.port, own_polls, count);
            view_count = count;
            view_app = app_figures(r.app);
            ++r.walks;
            polls_since_walk = 0;
            next_walk_ok = std::max(view->at - view->took + kMinWalkGap,
                                    view->at + kWalkDutyFactor * view->took);
            auto change = next_class_change(view->snap, o.port, o.thresholds);
            view_incomplete = view->snap.incomplete;
            view_counts = view->snap.ports.front();
            class_change = change ? std::optional(view->at + *change) : std::nullopt;
            r.snapshot = std::move(view->snap);  // the view's sockets live on in the result
            r.verdict = gate(r.snapshot);
            r.waited_s = waited();
            if (r.verdict.state != GateState::Wait) {
                r.end = r.verdict.state == GateState::Gone ? DrainEnd::gone : DrainEnd::drained;
                if (!min_drain_holds(now)) return r;
                held = true;
            }
            now = Clock::now();
        }
        if (at_deadline) {
            r.end = DrainEnd::timed_out;
            return r;
        }
        // Progress lines from a fresh walk, or from the last view when nothing it was made from
        // moved: the line and its classes are always one view.
        if ((walk_now && (progress_due || r.verdict.reason != last_reason)) ||
            (progress_due && !view_stale)) {
            std::string line = drainmon::progress_line(r.verdict, static_cast<int64_t>(r.waited_s));
            if (held)
                line +=
                    " - " + r.verdict.reason + "; --min-drain holds for " +
                    std::to_string(std::chrono::ceil<std::chrono::seconds>(min_end - now).count()) +
                    "s more";
            if (!r.app_note.empty()) line += " [" + r.app_note + "]";
            if (logging::shows(spdlog::level::info)) log << line << std::endl;  // -q: none
            if (o.on_progress) o.on_progress(r);
            last_reason = r.verdict.reason;
            next_progress = now + o.progress_every;
        }

        // Which close is worth a wake: the last one (the end from the counters); the one that
        // may leave only what did not block in the last view (a walk then); any while the app
        // counts work and no early poll is due yet. The kernel skips the others.
        int64_t wake_at = 0;
        if (view && !app_blocks(r.app) && !(want_walk && !walk_now))
            wake_at = std::max<int64_t>(0, blocking_gone_at());
        if (app && app_blocks(r.app) && next_poll > last_poll + kMinEarlyPollGap)
            wake_at = std::max<int64_t>(wake_at, count - 1);
        backend.wake_at(o.port, wake_at);
        {
            // A close between the count above and the threshold is not slept through.
            const int64_t now_count = connections(backend.counts(o.port));
            ++r.count_reads;
            if (now_count != count && now_count <= wake_at) continue;
        }

        auto wake = std::min(deadline, std::max(next_progress, next_walk_ok));
        if (held) wake = std::min(wake, min_end);
        if (app) wake = std::min(wake, next_poll);
        if (class_change) wake = std::min(wake, std::max(*class_change, next_walk_ok));
        if (want_walk && !walk_now) wake = std::min(wake, next_walk_ok);
        if (int v = sleep_until(backend, interrupted, wake)) {
            r.end = DrainEnd::interrupted;
            r.signal = v;
            r.waited_s = waited();
            return r;
        }
    }
}

}  // namespace drainmon
