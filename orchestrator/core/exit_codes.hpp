// zdd's exit codes, one per kind of outcome, so scripts can tell them apart. `zdd --help`
// prints this table (exit_code_help()).
#pragma once

#include <string>

#include "core/outcome.hpp"

namespace zdd {

enum ExitCode : int {
    kExitOk = 0,
    kExitInternal = 1,      // unexpected error (a bug or an unreadable system file)
    kExitUsage = 2,         // bad command line or configuration
    kExitDrainCut = 3,      // deployed, but the drain timeout cut connections short
    kExitLocked = 4,        // another zdd holds the deploy lock
    kExitDrainPending = 5,  // a color is still draining: run `zdd drain` or `zdd rollback`
    kExitToken = 6,         // token missing, unsafe file permissions, or refused (401)
    kExitRelease = 7,       // binary missing, not executable, or cannot be copied
    kExitStart = 8,         // the new instance did not start (port busy, exited, exec failed)
    kExitHealth = 9,        // the new instance never answered /health ok in time
    kExitNginxTest = 10,    // `nginx -t` rejected the new upstream (previous file restored)
    kExitNginxReload = 11,  // reload failed or did not take (previous file restored)
    kExitProbe = 12,        // the probe through nginx never saw the new color (rolled back)
    kExitInterrupted = 13,  // SIGINT/SIGTERM/SIGHUP: state recorded, finish with `zdd drain`
    kExitState = 14,        // state file corrupt or unwritable
    kExitNothingToDo = 15,  // rollback/drain has nothing to act on
    kExitStopFailed = 16,   // the old instance would not exit
    kExitServingDied = 17,  // the new color died during the drain: traffic is back on the old one
    kExitSuperseded = 18,   // stood down in step 5: a `zdd rollback` took over the drain
    kExitCanaryFailed =
        19,            // the new color failed during --shift-hold: traffic back on the old one
    kExitKept = 20,    // init: a differing file was kept (--force replaces it, with a backup)
    kExitDoctor = 21,  // init: host set up, but `zdd doctor` names something to fix
    kExitUnsafeStateDir = 22,  // state dir (or something in it) owned by another user or
                               // writable by group/others, or a release outside it
};

// The exit code of each outcome: the one place the flows' outcomes become numbers (the CLI's
// exit status, and the metrics textfile's last exit code).
constexpr ExitCode exit_code(Outcome o) {
    switch (o) {
        case Outcome::ok:
            return kExitOk;
        case Outcome::internal:
            return kExitInternal;
        case Outcome::usage:
            return kExitUsage;
        case Outcome::drain_cut:
            return kExitDrainCut;
        case Outcome::locked:
            return kExitLocked;
        case Outcome::drain_pending:
            return kExitDrainPending;
        case Outcome::token:
            return kExitToken;
        case Outcome::release:
            return kExitRelease;
        case Outcome::start:
            return kExitStart;
        case Outcome::health:
            return kExitHealth;
        case Outcome::nginx_test:
            return kExitNginxTest;
        case Outcome::nginx_reload:
            return kExitNginxReload;
        case Outcome::probe:
            return kExitProbe;
        case Outcome::interrupted:
            return kExitInterrupted;
        case Outcome::state:
            return kExitState;
        case Outcome::nothing_to_do:
            return kExitNothingToDo;
        case Outcome::stop_failed:
            return kExitStopFailed;
        case Outcome::serving_died:
            return kExitServingDied;
        case Outcome::superseded:
            return kExitSuperseded;
        case Outcome::canary_failed:
            return kExitCanaryFailed;
        case Outcome::kept:
            return kExitKept;
        case Outcome::doctor:
            return kExitDoctor;
        case Outcome::unsafe_state_dir:
            return kExitUnsafeStateDir;
    }
    return kExitInternal;
}

inline std::string exit_code_help() {
    return "Exit codes:\n"
           "  0  success\n"
           "  1  internal error\n"
           "  2  bad command line or configuration\n"
           "  3  deployed, but the drain timeout cut connections (listed on stderr)\n"
           "  4  another zdd holds the deploy lock\n"
           "  5  a color is still draining: run `zdd drain` or `zdd rollback` first\n"
           "  6  deployment token missing, unsafe (file readable by group/others) or refused\n"
           "  7  release binary missing, not executable or not copyable\n"
           "  8  new instance did not start (port busy, exited, exec failed)\n"
           "  9  new instance never answered /health ok in time\n"
           " 10  nginx -t rejected the upstream (previous file restored)\n"
           " 11  nginx reload failed or did not take (previous file restored)\n"
           " 12  probe through nginx never answered with the new color (rolled back)\n"
           " 13  interrupted (SIGINT/SIGTERM/SIGHUP): state kept, finish with `zdd drain`\n"
           " 14  state file corrupt or unwritable\n"
           " 15  nothing to do (no previous color to roll back to, nothing draining)\n"
           " 16  the old instance would not exit\n"
           " 17  the new color died while the old one drained: the old one serves again\n"
           " 18  superseded by a rollback: this zdd stood down in its drain (SIGUSR1), the\n"
           "     rollback finishes the job\n"
           " 19  the new color failed while held as a canary (--shift-hold): the old color\n"
           "     serves alone again and the new one was drained and stopped\n"
           " 20  init: a file differs from what init writes and was kept (--force replaces it)\n"
           " 21  init: the host is set up, but a host check names something to fix\n"
           " 22  unsafe state dir: it or something in it is owned by another user or writable\n"
           "     by group/others (or state.json names a release outside its releases dir)\n";
}

}  // namespace zdd
