#include "flow/canary_hold.hpp"

#include <thread>

#include "flow/interrupts.hpp"
#include "gate/app_report.hpp"
#include "runner/health_check.hpp"

namespace zdd {

using namespace std::chrono_literals;

namespace {

// What is wrong with `to` now, "" when nothing.
std::string check_once(Context& ctx, Color to, const ProcessRef& ref) {
    if ((ref.pid > 0 || ctx.cfg.runner == "systemd") && !ctx.runner->alive(to, ref))
        return to_string(to) + "'s process exited";
    auto h = ctx.health.probe(ctx.cfg.host, ctx.port(to), ctx.cfg.expect_version, 2s);
    if (!h.ok) return to_string(to) + "'s /health: " + h.reason;
    if (!ctx.cfg.probe_url.empty()) {
        drainmon::AppReportClient client(ctx.cfg.probe_url, ctx.token.reveal(), 2s);
        auto p = client.poll();
        if (p.outcome != drainmon::AppOutcome::Report)
            return "the probe through nginx (" + ctx.cfg.probe_url + "): " + p.reason;
    }
    return "";
}

}  // namespace

std::string hold_canary(Context& ctx, Color to, double seconds) {
    const ProcessRef ref = ctx.process(to);
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + to_ms(seconds);
    auto next = start;
    for (;;) {
        if (interrupted()) return "";
        const auto now = std::chrono::steady_clock::now();
        if (now >= next) {
            if (std::string bad = check_once(ctx, to, ref); !bad.empty()) {
                const double after = std::chrono::duration<double>(now - start).count();
                return bad + " (after " + human_duration(after) + " of the hold)";
            }
            next = now + 1s;
        }
        if (now >= end) return "";
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(100ms, std::min(next, end) - now));
    }
}

}  // namespace zdd
