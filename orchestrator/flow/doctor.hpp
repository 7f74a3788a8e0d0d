// `zdd doctor`: reads nginx's effective config (`nginx -T`) and the host, and says, one line
// each, what would hurt a zero-downtime deploy and what to change.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "nginx/nginx_conf_checks.hpp"

namespace zdd {

// Host checks that need no nginx: the BPF backend loads; the token file is private.
std::vector<DoctorFinding> check_host(const Config& cfg);

// Runs `nginx [-p P] [-c C] -T` with cfg's binary, checks its config and the host, prints one
// line per finding ("[FIX] where: what ...", "[WARN] ...", "[NOTE] ...") and a summary line.
// Returns 0 when nothing would hurt, 1 when there are findings, 2 when nginx could not be
// checked (binary missing, config rejected or unreadable).
int run_doctor(const Config& cfg, std::ostream& out);

}  // namespace zdd
