// What nginx serves, against what state.json says. zdd records the intent (the deploy's phase)
// before it changes nginx, and the upstream file is what nginx runs (every failed reload puts
// the previous file back). When a failure after a reload (a full state dir, kill -9) left
// state.json behind, the upstream file and the recorded intent tell what happened; commands
// believe nginx.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "core/color.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

// The colors the upstream file lists (by port); nullopt when it is missing or unreadable.
std::optional<std::set<Color>> upstream_colors(const Context& ctx);

// The colors nginx serves: the upstream file's, when nginx's current workers started after the
// file was last written (so the config they run includes it); nullopt when that is unknown
// (nginx not running, or a file written but never reloaded, as after a kill -9 in `nginx -t`).
std::optional<std::set<Color>> served_colors(const Context& ctx);

// Brings ctx.state in line with nginx (in memory; the caller saves): a switch recorded as
// started (phase shifting or later) whose new color the upstream lists is one whose reload
// took, so that color is active and the previous one is draining. Returns a one-line account
// of what it changed, "" when state.json already agreed.
std::string reconcile_with_nginx(Context& ctx);

// The old color of a switch that moved traffic but did not finish (interrupted or failed after
// a reload), the color `zdd drain` finishes; nullopt when there is none.
std::optional<Color> unfinished_old(const State& s);

// True when the last switch stopped before its new color took traffic: the active color never
// changed, the candidate is only a leftover.
bool candidate_never_served(const State& s);

}  // namespace zdd
