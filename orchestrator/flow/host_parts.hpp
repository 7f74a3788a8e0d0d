// The real parts a Context runs on for the CLI: state.json and its lock in the state dir, the
// upstream file and the nginx that runs it, the instance runner (exec or systemd), the port
// checks, the HTTP health check and libdrainmon's monitor. Unit tests build fakes instead.
#pragma once

#include "core/config.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

ContextParts host_parts(const Config& cfg);

}  // namespace zdd
