#include "flow/deploy.hpp"

#include <set>

#include "gate/app_report.hpp"
#include "flow/canary_hold.hpp"
#include "flow/drain_command.hpp"
#include "runner/health_check.hpp"
#include "flow/host_parts.hpp"
#include "flow/interrupts.hpp"

namespace zdd {

using namespace std::chrono_literals;

namespace {

void fail_if_interrupted(const char* when) {
    if (int sig = interrupted())
        throw Failure(Outcome::interrupted,
                      std::string("interrupted by ") + signal_name(sig) + " " + when);
}

// No state yet: a host run by the original script is adopted when its status file names a
// color whose port is listening.
void adopt_or_first(Context& ctx) {
    std::optional<Color> c;
    try {
        c = read_status_file(ctx.cfg.status_file);
    } catch (const StateError& e) {
        ctx.warn(std::string(e.what()) + ": ignored");
    }
    if (!c || !ctx.ports.listening(ctx.port(*c))) return;
    InstanceRecord rec;
    rec.port = ctx.port(*c);
    if (auto ref = ctx.ports.listener(rec.port)) {
        rec.pid = ref->pid;
        rec.pid_start_time = ref->start_time;
    }
    auto h = ctx.health.probe(ctx.cfg.host, rec.port, "", 2s);
    rec.version = h.version;
    ctx.state.active = *c;
    ctx.state.instances[*c] = rec;
    ctx.info("adopting the running " + to_string(*c) + " on port " + std::to_string(rec.port) +
             (rec.pid ? " (pid " + std::to_string(rec.pid) + ")" : "") + " from " +
             ctx.cfg.status_file);
}

// The canary failed its hold: the old color serves alone again (confirmed reload), the canary
// is drained (its streams finish) and stopped, and its record goes back to what it was, so no
// rollback ever returns to it. Returns Outcome::canary_failed unless the drain itself ended
// otherwise (interrupted, superseded).
Outcome back_out_canary(Context& ctx, Color to, Color from, const std::string& why,
                        const std::optional<InstanceRecord>& previous_record) {
    const std::string line = "canary " + to_string(to) + " failed during the hold: " + why;
    ctx.warn(line + "; putting " + to_string(from) + " back alone");
    auto monitor = open_monitor(ctx);
    monitor->watch(ctx.port(to));
    ctx.state.last_error = line;
    ctx.enter(Phase::removing_old, "nginx: " + to_string(from) + " alone again, removing " +
                                       to_string(to) + " from the upstream");
    ctx.serve_alone(from);
    const Outcome code = drain_and_stop(ctx, to, monitor.get());
    if (code != Outcome::ok && code != Outcome::drain_cut) return code;
    if (previous_record && !ctx.running(to))
        ctx.state.instances[to] = *previous_record;
    else if (!ctx.running(to))
        ctx.state.instances.erase(to);
    ctx.state.last_error =
        line + "; " + to_string(from) + " serves alone again" +
        (code == Outcome::drain_cut ? " (the canary's drain timed out: cut)" : "");
    ctx.save();
    ctx.warn(ctx.state.last_error + " (exit 19)");
    return Outcome::canary_failed;
}

}  // namespace

void check_token_against(Context& ctx, Color c) {
    drainmon::AppReportClient client(ctx.deployment_url(c), ctx.token.reveal());
    auto p = client.poll();
    if (p.outcome == drainmon::AppOutcome::Unauthorized)
        throw Failure(Outcome::token, to_string(c) + " refused the deployment token (401) at " +
                                          ctx.deployment_url(c) + ": check " + ctx.cfg.token_file +
                                          " or VIBE_DEPLOYMENT_TOKEN");
    if (p.outcome == drainmon::AppOutcome::NoReport)
        ctx.warn(to_string(c) + " gave no deployment report (" + p.reason +
                 "): its drain will rely on the kernel alone");
}

Outcome switch_to(Context& ctx, const SwitchPlan& plan) {
    const Config& cfg = ctx.cfg;
    const Color to = plan.to;
    const std::string new_name = to_string(to) + " on port " + std::to_string(ctx.port(to));
    ctx.state.deploy = DeployRecord{to, plan.from, {}};
    ctx.state.last_error.clear();
    // What `to` was before this attempt: put back if the attempt fails before traffic moves,
    // so a rollback never goes to a candidate that never served.
    std::optional<InstanceRecord> previous_record;
    if (auto it = ctx.state.instances.find(to); it != ctx.state.instances.end())
        previous_record = it->second;

    bool started = false;        // we started `to`: stop it if we fail before traffic moves
    bool traffic_moved = false;  // nginx sends `to` traffic
    try {
        // Step 1.
        if (plan.reuse_running && ctx.running(to)) {
            ctx.enter(Phase::starting, "Step 1: " + to_string(to) + " still runs (pid " +
                                           std::to_string(ctx.process(to).pid) + "): reusing it");
        } else {
            if (ctx.running(to) && ctx.process(to).pid > 0) {
                // Left by an interrupted deploy that never took traffic.
                ctx.info("stopping a leftover " + to_string(to) +
                         " instance: " + ctx.stop(to, 10s));
            }
            ctx.enter(Phase::starting,
                      "Step 1: starting " + new_name + " from " + plan.binary.string());
            ctx.start(to, plan.binary, plan.args);
            started = true;
        }
        fail_if_interrupted("while starting the new instance");

        // Step 2.
        ctx.enter(Phase::health_check, "Step 2: health check of " + new_name + " (timeout " +
                                           human_duration(cfg.health_timeout) + ")");
        HealthOptions ho;
        ho.host = cfg.host;
        ho.port = ctx.port(to);
        ho.expect_version = cfg.expect_version;
        ho.timeout = to_ms(cfg.health_timeout);
        ProcessRef ref = ctx.process(to);
        ho.still_running = [&] {
            return !interrupted() && (ref.pid <= 0 || ctx.runner->alive(to, ref));
        };
        HealthResult h = ctx.health.wait_healthy(ho);
        fail_if_interrupted("during the health check");
        if (!h.ok) {
            const std::string log = (ctx.store.dir() / "logs" / (to_string(to) + ".log")).string();
            if (h.process_exited)
                throw Failure(Outcome::start,
                              to_string(to) + " exited during its health check (see " + log + ")");
            throw Failure(Outcome::health,
                          to_string(to) + ": " + h.last_failure + " (see " + log + ")");
        }
        ctx.state.instances[to].version = h.version;
        ctx.save();
        ctx.info(to_string(to) + " is healthy" +
                 (h.version.empty() ? "" : " (version " + h.version + ")"));

        // The monitor watches the old port before any traffic moves, so every connection the
        // old instance still gets is counted from here on.
        std::unique_ptr<drainmon::Backend> monitor;
        if (plan.from) {
            monitor = open_monitor(ctx);
            monitor->watch(ctx.port(*plan.from));
        }
        fail_if_interrupted("before traffic moved");

        // Step 3.
        if (plan.from) {
            ctx.enter(Phase::shifting, "Step 3: nginx: " + to_string(to) +
                                           " weight=" + std::to_string(cfg.weight_new) + ", " +
                                           to_string(*plan.from) +
                                           " weight=" + std::to_string(cfg.weight_old));
            ctx.apply(ctx.upstream_for({{to, cfg.weight_new}, {*plan.from, cfg.weight_old}}));
        } else {
            ctx.enter(Phase::shifting, "Step 3: nginx: " + to_string(to) + " alone (first deploy)");
            ctx.apply(ctx.upstream_for({{to, 100}}));
        }
        if (std::string bad = ctx.probe(to); !bad.empty()) {
            // The reload took but nginx does not reach the new color: put the old file back.
            try {
                ctx.nginx.revert();
            } catch (const std::exception& e) {
                bad += "; reloading the restored upstream failed too: " + std::string(e.what());
            }
            throw Failure(Outcome::probe, bad + " (restored " + cfg.upstream_file + ")");
        }
        traffic_moved = true;
        ctx.record_active(to);
        ctx.info("nginx sends new connections to " + to_string(to) +
                 (cfg.probe_url.empty() ? "" : " (probe confirmed)"));
        if (!plan.from) {
            ctx.enter(Phase::done, "Done: " + new_name + " serves alone (first deploy)");
            return Outcome::ok;
        }

        // The held canary.
        if (cfg.shift_hold > 0) {
            ctx.info("Step 3: holding these weights for " + human_duration(cfg.shift_hold) +
                     ", checking " + to_string(to) + " every second (process, /health" +
                     (cfg.probe_url.empty() ? "" : ", probe through nginx") + ")");
            std::string bad = hold_canary(ctx, to, cfg.shift_hold);
            fail_if_interrupted("while holding the canary");
            if (!bad.empty()) return back_out_canary(ctx, to, *plan.from, bad, previous_record);
            ctx.info(to_string(to) + " stayed good for " + human_duration(cfg.shift_hold));
        }

        // Step 4.
        ctx.enter(Phase::removing_old,
                  "Step 4: nginx: removing " + to_string(*plan.from) + " from the upstream");
        ctx.apply(ctx.upstream_for({{to, 100}}));

        // Steps 5 and 6.
        return drain_and_stop(ctx, *plan.from, monitor.get());
    } catch (const Failure& f) {
        ctx.state.last_error = f.what();
        if (started && !traffic_moved) {
            try {
                ctx.info("stopping " + to_string(to) + ": " + ctx.stop(to, 5s));
                if (previous_record)
                    ctx.state.instances[to] = *previous_record;
                else
                    ctx.state.instances.erase(to);
            } catch (const std::exception& e) {
                ctx.warn(std::string("cannot stop ") + to_string(to) + ": " + e.what());
            }
        }
        if (traffic_moved && f.outcome != Outcome::drain_cut)
            ctx.state.last_error += "; finish with `zdd drain` (or `zdd rollback`)";
        try {
            ctx.save();
        } catch (const std::exception&) {
        }
        throw;
    }
}

Outcome run_deploy(const Config& cfg, const std::filesystem::path& binary,
                   const std::vector<std::string>& args, std::ostream& err) {
    Context ctx(cfg, err, host_parts(cfg));
    return run_deploy(ctx, binary, args);
}

Outcome run_deploy(Context& ctx, const std::filesystem::path& binary,
                   const std::vector<std::string>& args) {
    const Config& cfg = ctx.cfg;
    auto lock = acquire_deploy_lock(ctx.store);
    return recording_result(ctx, [&]() -> Outcome {
        ctx.load_reconciled();
        if (ctx.state.draining)
            throw Failure(Outcome::drain_pending,
                          to_string(*ctx.state.draining) +
                              " is still draining from an interrupted deploy: run `zdd drain` to "
                              "finish it or `zdd rollback`, then deploy again");
        ctx.token = load_token_or_fail(cfg);
        if (!ctx.state.active) adopt_or_first(ctx);

        std::optional<Color> from = ctx.state.active;
        const Color to = from ? other(*from) : Color::blue;
        if (from) check_token_against(ctx, *from);

        Release rel;
        try {
            rel = ctx.releases.add(binary);
        } catch (const ReleaseError& e) {
            throw Failure(Outcome::release, e.what());
        }
        ctx.info("release " + rel.id + " <- " + binary.string());
        ctx.releases.link_color(to, rel.binary);

        // Keep the releases the colors run and the new one; prune the rest beyond
        // --keep-releases now, so failed attempts do not pile up.
        std::set<std::filesystem::path> protect{rel.binary};
        for (const auto& [c, rec] : ctx.state.instances)
            if (!rec.release.empty()) protect.insert(rec.release);
        try {
            for (const auto& d :
                 ctx.releases.prune(static_cast<std::size_t>(cfg.keep_releases), protect))
                ctx.info("pruned release " + d.filename().string());
        } catch (const std::exception& e) {
            ctx.warn(std::string("pruning releases: ") + e.what());
        }
        return switch_to(ctx, SwitchPlan{to, from, rel.binary, args, false});
    });
}

}  // namespace zdd
