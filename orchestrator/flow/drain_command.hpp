// Steps 5 and 6 of a deploy (drain the old color, then stop it), shared by deploy, rollback
// and `zdd drain [--color C]`, which finishes the drain of a deploy that was interrupted
// (Ctrl-C, lost terminal, kill -9).
#pragma once

#include <memory>
#include <optional>
#include <ostream>

#include "gate/drain_gate.hpp"
#include "monitor/backend.hpp"
#include "core/color.hpp"
#include "core/config.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

// The drain gate's policy from cfg: --idle-ok, --strict, --ignore-remote.
drainmon::GatePolicy gate_policy(const Config& cfg);

// Loads the monitor (BPF, else sock_diag, saying so in one line) with ctx.cfg's thresholds,
// through ctx.monitors.
std::unique_ptr<drainmon::Backend> open_monitor(const Context& ctx);

// Marks `old` draining, waits on its port through the drain gate, then stops it. Returns
// Outcome::ok, Outcome::drain_cut (timeout: old instance cut, what was cut printed) or
// Outcome::interrupted (state kept; how to finish printed). `monitor` may be null (one is
// opened). The deploy record must exist (phases are appended to it).
Outcome drain_and_stop(Context& ctx, Color old, drainmon::Backend* monitor);

// `zdd drain [--color C]`: takes the lock, removes C from the upstream if it is still there,
// then drain_and_stop. C defaults to the color the state says is draining.
Outcome run_drain(const Config& cfg, std::optional<Color> color, std::ostream& err);
// The same on a context built by the caller (the lock is taken through ctx.store).
Outcome run_drain(Context& ctx, std::optional<Color> color);

}  // namespace zdd
