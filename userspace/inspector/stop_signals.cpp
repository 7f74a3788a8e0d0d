#include "inspector/stop_signals.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace drainmon {

StopSignals::StopSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
    fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
}

StopSignals::~StopSignals() {
    fd_.reset();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

int StopSignals::check() {
    signalfd_siginfo si;
    while (::read(fd_.get(), &si, sizeof si) == sizeof si) got_ = static_cast<int>(si.ssi_signo);
    return got_;
}

int StopSignals::wait(int timeout_ms) {
    if (check()) return got_;
    pollfd p{fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return check();
    return 0;
}

}  // namespace drainmon
