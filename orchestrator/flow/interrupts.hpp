// SIGINT, SIGTERM and SIGHUP as a flag that zdd checks at safe points (between deploy steps,
// in the drain loop), so an interrupted deploy always records its state before it exits.
// SIGUSR1 is a request to stand down (kStandDownSignal): `zdd rollback` sends it to the zdd
// holding the deploy lock in step 5, which then leaves the drain as it is and exits 18.
#pragma once

namespace zdd {

// Installs the handlers (no SA_RESTART needed: every wait in zdd is a bounded slice).
void install_interrupt_handlers();
// The first signal received (SIGINT, SIGTERM or SIGHUP), or 0.
int interrupted();
const char* signal_name(int sig);  // "SIGINT", ...

// The documented signal asking a draining zdd to stand down for a rollback.
inline constexpr int kStandDownSignal = 10;  // SIGUSR1 on Linux
// True once kStandDownSignal arrived.
bool stand_down_requested();
// Forgets the signals received (unit tests run many flows in one process).
void reset_interrupts();

}  // namespace zdd
