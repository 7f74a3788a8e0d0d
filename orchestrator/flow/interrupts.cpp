#include "flow/interrupts.hpp"

#include <signal.h>

#include <csignal>
#include <initializer_list>

namespace zdd {

namespace {

volatile std::sig_atomic_t g_signal = 0;
volatile std::sig_atomic_t g_stand_down = 0;

void on_stand_down(int) {
    g_stand_down = 1;
}

void on_signal(int sig) {
    if (g_signal == 0) g_signal = sig;
}

}  // namespace

void install_interrupt_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &sa, nullptr);
    static_assert(kStandDownSignal == SIGUSR1);
    struct sigaction sd {};
    sd.sa_handler = on_stand_down;
    sigemptyset(&sd.sa_mask);
    sd.sa_flags = SA_RESTART;
    ::sigaction(kStandDownSignal, &sd, nullptr);
}

bool stand_down_requested() {
    return g_stand_down != 0;
}

void reset_interrupts() {
    g_signal = 0;
    g_stand_down = 0;
}

int interrupted() {
    return g_signal;
}

const char* signal_name(int sig) {
    switch (sig) {
        case SIGINT:
            return "SIGINT";
        case SIGTERM:
            return "SIGTERM";
        case SIGHUP:
            return "SIGHUP";
        default:
            return "a signal";
    }
}

}  // namespace zdd
