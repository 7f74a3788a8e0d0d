#include "flow/rollback.hpp"

#include <filesystem>

#include "flow/deploy.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

using namespace std::chrono_literals;

int run_rollback(const Config& cfg, std::ostream& err) {
    Context ctx(cfg, err);
    DeployLock lock = acquire_deploy_lock(cfg);
    ctx.load();
    if (!ctx.state.active)
        throw Failure(kExitNothingToDo, "no active color recorded in " +
                                            ctx.store.state_file().string() +
                                            ": nothing to roll back");
    ctx.token = load_token_or_fail(cfg);
    const Color from = *ctx.state.active;
    const Color to = other(from);

    // The last deploy stopped before traffic moved: nginx still sends everything to `from`.
    const auto& d = ctx.state.deploy;
    if (d && d->to != from && d->phase() && *d->phase() < Phase::shifting) {
        std::string what =
            ctx.running(d->to) ? ctx.stop(d->to, 10s) : to_string(d->to) + " is not running";
        ctx.state.deploy->phases.push_back({Phase::done, unix_now()});
        ctx.state.last_error.clear();
        ctx.save();
        ctx.info("the last deploy (" + to_string(d->to) + ") never took traffic; " + what + "; " +
                 to_string(from) + " still serves");
        return kExitOk;
    }

    auto it = ctx.state.instances.find(to);
    const bool running = ctx.running(to);
    if (!running && (it == ctx.state.instances.end() || it->second.release.empty()))
        throw Failure(kExitNothingToDo, "no previous release recorded for " + to_string(to) +
                                            ": nothing to roll back to");
    std::filesystem::path binary = it != ctx.state.instances.end() ? it->second.release : "";
    std::vector<std::string> args =
        it != ctx.state.instances.end() ? it->second.args : std::vector<std::string>{};
    if (!running && !std::filesystem::exists(binary))
        throw Failure(kExitRelease,
                      "the release of " + to_string(to) + " (" + binary.string() + ") is gone");
    ctx.info("rolling back: " + to_string(from) + " -> " + to_string(to));
    check_token_against(ctx, from);
    // A color that is still draining is the one we go back to: it serves again.
    if (ctx.state.draining == to) ctx.state.draining.reset();
    return switch_to(ctx, SwitchPlan{to, from, binary, args, true});
}

}  // namespace zdd
