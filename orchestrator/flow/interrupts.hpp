// SIGINT, SIGTERM and SIGHUP as a flag that zdd checks at safe points (between deploy steps,
// in the drain loop), so an interrupted deploy always records its state before it exits.
#pragma once

namespace zdd {

// Installs the handlers (no SA_RESTART needed: every wait in zdd is a bounded slice).
void install_interrupt_handlers();
// The first signal received (SIGINT, SIGTERM or SIGHUP), or 0.
int interrupted();
const char* signal_name(int sig);  // "SIGINT", ...

}  // namespace zdd
