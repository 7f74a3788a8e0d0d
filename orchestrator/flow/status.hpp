// `zdd status [--json]`: the active color, each color's port, pid, version and uptime, the
// phase of a deploy in progress (or where an interrupted one stopped, and how to finish it),
// and the live drain figures of a draining color (kernel snapshot + app report).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "core/config.hpp"
#include "core/outcome.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

// The status as JSON (the --json output). `live`: take a kernel snapshot and poll the app of
// a draining color (needs the monitor and the token; each is skipped with a note if missing).
nlohmann::json status_json(const Config& cfg, bool live);
// The same from a context built by the caller (its state is loaded here; nothing is saved).
nlohmann::json status_json(Context& ctx, bool live);
// The same, as text for operators.
std::string status_text(const nlohmann::json& st);

Outcome run_status(const Config& cfg, bool json, std::ostream& out);

// The pid of the zdd holding the deploy lock in `state_dir` (from /proc/locks), or 0.
int lock_holder(const std::string& state_dir);

}  // namespace zdd
