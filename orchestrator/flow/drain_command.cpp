#include "flow/drain_command.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "gate/drain_wait.hpp"
#include "flow/host_parts.hpp"
#include "flow/interrupts.hpp"
#include "flow/nginx_truth.hpp"
#include "monitor/bpf_backend.hpp"

namespace zdd {

using drainmon::describe_sockets;
using drainmon::DrainEnd;
using drainmon::DrainResult;
using drainmon::DrainWaitOptions;
using drainmon::wait_for_drain;

using namespace std::chrono_literals;

namespace {

std::string plural(int64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// How the operator finishes after an interruption.
std::string how_to_finish(Color old) {
    return "nginx and both instances are left as they are; finish with `zdd drain --color " +
           to_string(old) + "` (or `zdd rollback`)";
}

// The serving color died while `old` drained: `old` still runs, so it takes the traffic back
// instead of being stopped (stopping it would leave nothing serving).
Outcome fall_back_to(Context& ctx, Color old, Color dead) {
    ctx.state.draining.reset();
    ctx.state.last_error = to_string(dead) + " died while " + to_string(old) +
                           " was draining; traffic is back on " + to_string(old);
    ctx.save();
    ctx.warn(to_string(dead) + " is not running any more: putting " + to_string(old) +
             " back in the nginx upstream instead of stopping it");
    ctx.serve_alone(old);
    throw Failure(Outcome::serving_died, ctx.state.last_error + " (see the " + to_string(dead) +
                                             " log in " + (ctx.store.dir() / "logs").string() +
                                             ")");
}

}  // namespace

drainmon::GatePolicy gate_policy(const Config& cfg) {
    drainmon::GatePolicy p{cfg.idle_ok, cfg.strict};
    for (const auto& c : cfg.ignore_remote) p.ignore_remote.push_back(drainmon::parse_peer_cidr(c));
    return p;
}

std::unique_ptr<drainmon::Backend> open_monitor(const Context& ctx) {
    const Config& cfg = ctx.cfg;
    drainmon::BackendOptions bo;
    bo.thresholds = zdd_thresholds{static_cast<uint32_t>(to_ms(cfg.idle_after).count()),
                                   static_cast<uint32_t>(to_ms(cfg.push_gap).count()),
                                   static_cast<uint32_t>(to_ms(cfg.stuck_after).count())};
    std::string note;
    try {
        auto b = ctx.monitors.open(bo, &note);
        if (!note.empty()) ctx.warn("monitor: " + note);
        return b;
    } catch (const std::exception& e) {
        throw Failure(Outcome::internal,
                      std::string("cannot load the connection monitor: ") + e.what());
    }
}

Outcome drain_and_stop(Context& ctx, Color old, drainmon::Backend* monitor) {
    const Config& cfg = ctx.cfg;
    std::unique_ptr<drainmon::Backend> own;
    if (!monitor) {
        own = open_monitor(ctx);
        monitor = own.get();
    }
    // Resident while it drains: `drain-inspector snapshot`/`metrics` read this monitor instead
    // of loading programs of their own (the pins go with the monitor).
    if (auto* bpf = dynamic_cast<drainmon::BpfBackend*>(monitor)) {
        try {
            bpf->pin();
        } catch (const std::exception& e) {
            spdlog::debug("monitor not resident: {}", e.what());
        }
    }
    const uint16_t port = ctx.port(old);
    ctx.state.draining = old;
    ctx.enter(Phase::draining,
              "Step 5: draining " + to_string(old) + " on port " + std::to_string(port) +
                  " (timeout " +
                  (cfg.drain_timeout > 0 ? human_duration(cfg.drain_timeout) : "none") + ", " +
                  monitor->name() + " monitor)");

    // The color that serves now must outlive the drain; checked every half second.
    const std::optional<Color> serving =
        ctx.state.active && *ctx.state.active != old ? ctx.state.active : std::nullopt;
    bool serving_died = false;
    auto last_check = std::chrono::steady_clock::now();
    constexpr int kStandDown = -2;  // not a signal number: a rollback asked us to stand down
    auto stop_asked = [&]() -> int {
        if (int sig = interrupted()) return sig;
        if (stand_down_requested()) return kStandDown;
        const auto now = std::chrono::steady_clock::now();
        if (serving && now - last_check >= 500ms) {
            last_check = now;
            if (!ctx.running(*serving)) {
                serving_died = true;
                return -1;  // not a signal: ends the wait, handled below
            }
        }
        return 0;
    };

    DrainResult r;
    if (int sig = stop_asked()) {
        r.end = DrainEnd::interrupted;
        r.signal = sig;
    } else {
        DrainWaitOptions o;
        o.host = cfg.host;
        o.port = port;
        o.token = ctx.token.reveal();
        o.timeout = to_ms(cfg.drain_timeout);
        o.app_poll = to_ms(cfg.app_poll);
        o.policy = gate_policy(cfg);
        o.handoff = cfg.handoff;
        o.min_drain = to_ms(cfg.min_drain);
        o.thresholds = zdd_thresholds{static_cast<uint32_t>(to_ms(cfg.idle_after).count()),
                                      static_cast<uint32_t>(to_ms(cfg.push_gap).count()),
                                      static_cast<uint32_t>(to_ms(cfg.stuck_after).count())};
        o.on_progress = [&](const DrainResult& p) {
            ctx.metrics.on_drain(old, p.waited_s, p.verdict.figures);
        };
        r = wait_for_drain(*monitor, o, ctx.err, stop_asked);
        ctx.metrics.on_drain(old, r.waited_s, r.verdict.figures);  // the drain's last figures
    }
    if (serving && (serving_died || (r.end != DrainEnd::interrupted && !ctx.running(*serving))))
        return fall_back_to(ctx, old, *serving);

    if (r.end == DrainEnd::interrupted && r.signal == kStandDown) {
        // The rollback waiting for our lock finishes the job: nothing is touched here, so
        // the streams on both colors go on; the state says where we stopped.
        ctx.state.last_error =
            "stood down while draining " + to_string(old) + ": superseded by a rollback";
        ctx.save();
        ctx.warn(ctx.state.last_error + " (exit 18)");
        return Outcome::superseded;
    }

    if (r.end == DrainEnd::interrupted) {
        ctx.state.last_error = std::string("interrupted by ") + signal_name(r.signal) +
                               " while draining " + to_string(old) + "; " + how_to_finish(old);
        ctx.save();
        ctx.warn(ctx.state.last_error);
        return Outcome::interrupted;
    }

    Outcome code = Outcome::ok;
    std::string stopped;
    if (r.end == DrainEnd::timed_out) {
        const auto& f = r.verdict.figures;
        std::string what = plural(f.connections, "connection");
        if (r.app)
            what += ", " + plural(r.app->active_streams, "stream") + ", " +
                    plural(r.app->active_requests, "request");
        else
            what += " (no app report: " + r.app_note + ")";
        ctx.warn("drain timeout (" + human_duration(cfg.drain_timeout) + ") reached on " +
                 to_string(old) + ": cutting " + what + " - " + r.verdict.reason);
        ctx.err << describe_sockets(r.snapshot, port, "[WARN]   cut: ") << std::flush;
        ctx.metrics.on_cut(f.connections);
        ctx.enter(Phase::stopping,
                  "Step 6: stopping " + to_string(old) + " (SIGINT: its streams are cancelled)");
        stopped = ctx.cut(old, 5s);
        ctx.state.last_error = "drain of " + to_string(old) + " timed out after " +
                               human_duration(cfg.drain_timeout) + ": cut " + what;
        code = Outcome::drain_cut;
    } else {
        const int64_t handed = r.verdict.figures.handed_off;
        ctx.info(to_string(old) + (r.end == DrainEnd::gone ? " stopped listening" : " drained") +
                 " after " + human_duration(r.waited_s) + ": " + r.verdict.reason +
                 (handed > 0 ? "; " + plural(handed, "stream") + " handed off" : ""));
        for (const auto& s : r.verdict.stuck)
            ctx.warn("stuck socket left (not blocking): " + drainmon::describe_socket(s));
        for (const auto& s : r.verdict.ignored)
            ctx.info("ignored peer (--ignore-remote): " + drainmon::describe_socket(s));
        ctx.enter(Phase::stopping, "Step 6: stopping " + to_string(old) + " (SIGTERM)");
        stopped = ctx.stop(old, 30s);
        ctx.state.last_error.clear();
    }
    ctx.info(stopped);
    ctx.state.draining.reset();
    ctx.enter(Phase::done,
              code == Outcome::ok
                  ? "Done: " + to_string(ctx.state.active.value_or(old)) + " serves alone"
                  : "Done, drain cut short (exit 3)");
    return code;
}

Outcome run_drain(const Config& cfg, std::optional<Color> color, std::ostream& err) {
    Context ctx(cfg, err, host_parts(cfg));
    return run_drain(ctx, color);
}

Outcome run_drain(Context& ctx, std::optional<Color> color) {
    const Config& cfg = ctx.cfg;
    auto lock = acquire_deploy_lock(ctx.store);
    return recording_result(ctx, [&]() -> Outcome {
        ctx.load_reconciled();
        Color c;
        if (color) {
            c = *color;
        } else if (auto old = unfinished_old(ctx.state)) {
            c = *old;
        } else {
            ctx.info("nothing is draining");
            return Outcome::ok;
        }
        if (ctx.state.active == c)
            throw Failure(Outcome::usage,
                          to_string(c) +
                              " is the active color: draining it would stop the service "
                              "(use `zdd rollback` to move traffic away first)");
        ctx.token = load_token_or_fail(cfg);
        auto monitor = open_monitor(ctx);
        monitor->watch(ctx.port(c));
        if (!ctx.state.deploy) ctx.state.deploy = DeployRecord{other(c), c, {}};

        // Interrupted before step 4 finished: the upstream may still send it new connections.
        bool listed = false;
        try {
            if (auto text = ctx.nginx.read_upstream()) {
                auto up = parse_upstream(*text, cfg.upstream_name);
                listed =
                    std::any_of(up.servers.begin(), up.servers.end(),
                                [&](const UpstreamServer& s) { return s.port == ctx.port(c); });
            }
        } catch (const std::exception& e) {
            ctx.warn("cannot read " + cfg.upstream_file + " (" + e.what() + "): rewriting it");
            listed = true;
        }
        // Killed in step 4, the file may already leave c out while nginx still runs the config
        // that has it: the file says nothing about what nginx runs, so redo step 4 (idempotent).
        const bool step4_unconfirmed = ctx.state.deploy && ctx.state.deploy->from == c &&
                                       ctx.state.deploy->phase() == Phase::removing_old;
        if (listed || step4_unconfirmed) {
            if (!ctx.state.active)
                throw Failure(Outcome::nothing_to_do, "no active color recorded: cannot take " +
                                                          to_string(c) + " out of the upstream");
            ctx.state.enter_phase(Phase::removing_old);
            ctx.save();
            ctx.info("Step 4: removing " + to_string(c) + " from the nginx upstream");
            ctx.apply(ctx.upstream_for({{*ctx.state.active, 100}}));
        }
        return drain_and_stop(ctx, c, monitor.get());
    });
}

}  // namespace zdd
