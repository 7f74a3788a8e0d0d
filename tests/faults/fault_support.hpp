// What every fault test checks (issue 6 "Faults"): traffic through nginx never interrupted (a
// bounded curl loop runs during the fault), a clear one-line error, a consistent state, and a
// next deploy that works. Plus zdd run with some of the host's flags replaced or under a
// wrapper (capsh).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "e2e_host.hpp"
#include "traffic_loop.hpp"

namespace zdd_fault {

int count_errors(const std::string& err);  // "[ERROR]" lines

// An executable /bin/sh script named `name` in the host's dir; returns its path.
std::string script(zdd_e2e::E2eHost& h, const std::string& name, const std::string& body);

// The curl loop through nginx's /health; started once at least a few requests got through.
std::unique_ptr<zdd_load::TrafficLoop> start_traffic(zdd_e2e::E2eHost& h);
// Stops it and checks that every request got a 200.
void check_traffic(zdd_load::TrafficLoop& t);

// After a failure before traffic moved: the upstream file as before, blue (same pid) answers
// through nginx, green neither listens nor runs, state active blue (with last_error set when
// `recorded`: a failure after the state could be written).
void check_untouched(zdd_e2e::E2eHost& h, const std::string& upstream_before, int blue_pid,
                     bool recorded = true);

// A deploy of the demo app as `version` exits 0 and nginx serves that version.
void check_next_deploy(zdd_e2e::E2eHost& h, const std::string& version);

struct Invocation {
    std::map<std::string, std::string> replace;  // host flag -> new value
    std::vector<std::string> prefix;             // e.g. capsh ... --shell=ZDD --
    std::map<std::string, std::string> env;
};
// `zdd SUB <host flags, some replaced> EXTRA...` to completion (bounded at 90 s).
zdd_e2e::ZddRun run_zdd(zdd_e2e::E2eHost& h, const std::string& sub,
                        const std::vector<std::string>& extra, const Invocation& how);

}  // namespace zdd_fault
