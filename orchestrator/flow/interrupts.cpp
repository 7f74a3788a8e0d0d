#include "flow/interrupts.hpp"

#include <signal.h>

#include <csignal>
#include <initializer_list>

namespace zdd {

namespace {

volatile std::sig_atomic_t g_signal = 0;

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
