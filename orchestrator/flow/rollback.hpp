// `zdd rollback`: traffic back to the previous color (restarting its recorded release if it
// has stopped), health-checked, then the failed color drained and stopped. When the last
// deploy never took traffic, its leftover instance is stopped and nginx is not touched.
// While another zdd (deploy or drain) is in step 5, rollback asks it to stand down with
// SIGUSR1 (it exits 18 without touching anything), waits for the lock (10 s at most, else exit
// 4), then puts the draining color back into the upstream and drains the other one.
#pragma once

#include <ostream>

#include "core/config.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

Outcome run_rollback(const Config& cfg, std::ostream& err);
// The same on a context built by the caller (the lock is taken through ctx.store).
Outcome run_rollback(Context& ctx);

}  // namespace zdd
