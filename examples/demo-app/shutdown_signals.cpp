#include "shutdown_signals.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace zdd_demo {

ShutdownSignals::ShutdownSignals(Handler handler) : handler_(std::move(handler)) {
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0)
        throw std::runtime_error(std::string("pthread_sigmask: ") + std::strerror(rc));
    signal_fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC));
    wake_fd_.reset(::eventfd(0, EFD_CLOEXEC));
    if (!signal_fd_ || !wake_fd_)
        throw std::runtime_error(std::string("signalfd/eventfd: ") + std::strerror(errno));
    thread_ = std::thread([this] { run(); });
}

ShutdownSignals::~ShutdownSignals() {
    uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
}

void ShutdownSignals::run() {
    pollfd p[2] = {{signal_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    while (true) {
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (p[1].revents) return;
        signalfd_siginfo info;
        if (::read(signal_fd_.get(), &info, sizeof info) == sizeof info)
            handler_(static_cast<int>(info.ssi_signo));
    }
}

}  // namespace zdd_demo
