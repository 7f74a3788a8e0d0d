#include "flow/rollback.hpp"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "flow/deploy.hpp"
#include "flow/deploy_context.hpp"
#include "flow/host_parts.hpp"
#include "flow/interrupts.hpp"
#include "flow/nginx_truth.hpp"
#include "flow/status.hpp"

namespace zdd {

using namespace std::chrono_literals;

namespace {

constexpr auto kStandDownWait = 10s;

// Only a zdd is ever sent the stand-down signal (SIGUSR1 kills most other programs).
bool is_zdd(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(f, comm);
    return comm == "zdd" || comm.rfind("vibe-zero-down", 0) == 0;
}

// The deploy lock; when a zdd holds it in step 5 (draining), that zdd is asked to stand down
// (kStandDownSignal) and the lock is waited for, bounded. Any other holder:
// Failure(Outcome::locked).
std::unique_ptr<HeldLock> take_lock(Context& ctx) {
    try {
        return ctx.store.lock();
    } catch (const LockBusy& busy) {
        ctx.load();
        const auto& s = ctx.state;
        const int holder = lock_holder(ctx.cfg.state_dir);
        const bool draining =
            s.draining && s.deploy && s.deploy->phase() == Phase::draining && holder > 0;
        if (!draining || !is_zdd(holder))
            throw Failure(Outcome::locked, std::string(busy.what()) +
                                               " (a rollback takes over only a zdd in step 5, "
                                               "draining)");
        ctx.info("zdd (pid " + std::to_string(holder) + ") is draining " + to_string(*s.draining) +
                 ": asking it to stand down (SIGUSR1)");
        if (::kill(holder, kStandDownSignal) != 0)
            throw Failure(Outcome::locked, std::string(busy.what()) + " (cannot signal it)");
        const auto deadline = std::chrono::steady_clock::now() + kStandDownWait;
        for (;;) {
            try {
                return ctx.store.lock();
            } catch (const LockBusy&) {
                if (std::chrono::steady_clock::now() >= deadline)
                    throw Failure(Outcome::locked, "zdd (pid " + std::to_string(holder) +
                                                       ") did not stand down within " +
                                                       human_duration(kStandDownWait.count()) +
                                                       " of SIGUSR1; nothing was changed");
            } catch (const StateError& e) {
                throw Failure(Outcome::state, e.what());
            }
            std::this_thread::sleep_for(100ms);
        }
    } catch (const StateError& e) {
        throw Failure(Outcome::state, e.what());
    }
}

}  // namespace

Outcome run_rollback(const Config& cfg, std::ostream& err) {
    Context ctx(cfg, err, host_parts(cfg));
    return run_rollback(ctx);
}

Outcome run_rollback(Context& ctx) {
    const Config& cfg = ctx.cfg;
    auto lock = take_lock(ctx);
    return recording_result(ctx, [&]() -> Outcome {
        ctx.load_reconciled();
        if (!ctx.state.active)
            throw Failure(Outcome::nothing_to_do, "no active color recorded in " +
                                                      ctx.store.state_file().string() +
                                                      ": nothing to roll back");
        ctx.token = load_token_or_fail(cfg);
        const Color from = *ctx.state.active;
        const Color to = other(from);

        // The last deploy stopped before its color took traffic (interrupted, or failed at
        // `nginx -t`, the reload or the probe): `from` is the last color that served, so it stays.
        const auto& d = ctx.state.deploy;
        if (candidate_never_served(ctx.state)) {
            std::string what =
                ctx.running(d->to) ? ctx.stop(d->to, 10s) : to_string(d->to) + " is not running";
            ctx.state.deploy->phases.push_back({Phase::done, unix_now()});
            // A canary backed out and interrupted in its drain: stopped now, nothing drains.
            if (ctx.state.draining == d->to) ctx.state.draining.reset();
            ctx.state.last_error.clear();
            ctx.save();
            ctx.info("the last deploy (" + to_string(d->to) + ") never took traffic; " + what +
                     "; " + to_string(from) + " still serves");
            return Outcome::ok;
        }

        auto it = ctx.state.instances.find(to);
        const bool running = ctx.running(to);
        if (!running && (it == ctx.state.instances.end() || it->second.release.empty()))
            throw Failure(Outcome::nothing_to_do, "no previous release recorded for " +
                                                      to_string(to) + ": nothing to roll back to");
        std::filesystem::path binary = it != ctx.state.instances.end() ? it->second.release : "";
        std::vector<std::string> args =
            it != ctx.state.instances.end() ? it->second.args : std::vector<std::string>{};
        if (!running && !std::filesystem::exists(binary))
            throw Failure(Outcome::release,
                          "the release of " + to_string(to) + " (" + binary.string() + ") is gone");
        ctx.info("rolling back: " + to_string(from) + " -> " + to_string(to));
        check_token_against(ctx, from);
        // A color that is still draining is the one we go back to: it serves again.
        if (ctx.state.draining == to) ctx.state.draining.reset();
        return switch_to(ctx, SwitchPlan{to, from, binary, args, true});
    });
}

}  // namespace zdd
