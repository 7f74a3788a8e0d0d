// How a zdd command ended, as the flows report it: returned (the ends that are not failures,
// or a drain cut short) or thrown as a Failure with its one line for the operator. Only the CLI
// turns an Outcome into a process exit code (core/exit_codes.hpp's table); the metrics
// textfile reports that same number.
#pragma once

#include <stdexcept>
#include <string>

namespace zdd {

enum class Outcome {
    ok,
    internal,          // unexpected error (a bug or an unreadable system file)
    usage,             // bad command line or configuration
    drain_cut,         // deployed, but the drain timeout cut connections short
    locked,            // another zdd holds the deploy lock
    drain_pending,     // a color is still draining: run `zdd drain` or `zdd rollback`
    token,             // token missing, unsafe file permissions, or refused (401)
    release,           // binary missing, not executable, or cannot be copied
    start,             // the new instance did not start (port busy, exited, exec failed)
    health,            // the new instance never answered /health ok in time
    nginx_test,        // `nginx -t` rejected the new upstream (previous file restored)
    nginx_reload,      // reload failed or did not take (previous file restored)
    probe,             // the probe through nginx never saw the new color (rolled back)
    interrupted,       // SIGINT/SIGTERM/SIGHUP: state recorded, finish with `zdd drain`
    state,             // state file corrupt or unwritable
    nothing_to_do,     // rollback/drain has nothing to act on
    stop_failed,       // the old instance would not exit
    serving_died,      // the new color died during the drain: traffic back on the old one
    superseded,        // stood down in step 5: a `zdd rollback` took over the drain
    canary_failed,     // the new color failed during --shift-hold: traffic back on the old one
    kept,              // init: a differing file was kept
    doctor,            // init: host set up, but `zdd doctor` names something to fix
    unsafe_state_dir,  // state dir (or something in it) unsafe, or a release outside it
};

// A failure that ends the command: one line for the operator and its outcome.
struct Failure : std::runtime_error {
    Failure(Outcome o, const std::string& msg) : std::runtime_error(msg), outcome(o) {}
    Outcome outcome;
};

}  // namespace zdd
