// `zdd deploy BINARY [-- ARGS...]`: the six steps of docs/design.md "Deploy flow". One progress
// line per step on stderr; every step recorded in state.json with its time.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/color.hpp"
#include "core/config.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

// Moving traffic to `to`: steps 1-6 with an optional start (deploy starts a new release;
// rollback reuses a running instance or restarts the recorded release).
struct SwitchPlan {
    Color to = Color::blue;
    std::optional<Color> from;      // the color serving now; none on a first deploy
    std::filesystem::path binary;   // what to start `to` from
    std::vector<std::string> args;  // its arguments
    bool reuse_running = false;     // keep `to` if it already runs (rollback)
};

// Runs the plan on a loaded, locked context whose token is set. Returns the outcome
// (Outcome::ok, Outcome::drain_cut, Outcome::interrupted); throws Failure for the failures, after
// undoing what it started before traffic moved.
Outcome switch_to(Context& ctx, const SwitchPlan& plan);

// Asks `c`'s /health/deployment with the token before any traffic moves: a 401 throws
// Failure(Outcome::token); no answer is a warning (the drain then relies on the kernel alone).
void check_token_against(Context& ctx, Color c);

Outcome run_deploy(const Config& cfg, const std::filesystem::path& binary,
                   const std::vector<std::string>& args, std::ostream& err);
// The same on a context built by the caller (the lock is taken through ctx.store).
Outcome run_deploy(Context& ctx, const std::filesystem::path& binary,
                   const std::vector<std::string>& args);

}  // namespace zdd
