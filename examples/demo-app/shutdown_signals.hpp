// SIGTERM and SIGINT delivered to a dedicated thread through a signalfd, so the reaction may
// lock, log and allocate, which an async signal handler may not.
#pragma once

#include <functional>
#include <thread>

#include "common/unique_fd.hpp"

namespace zdd_demo {

class ShutdownSignals {
  public:
    using Handler = std::function<void(int signo)>;

    // Blocks SIGTERM and SIGINT in the calling thread: construct it before any other thread
    // starts, so every thread inherits the mask and only the signalfd sees them. Also ignores
    // SIGPIPE (a vanished client must be a failed write, not the end of the process).
    explicit ShutdownSignals(Handler handler);
    ~ShutdownSignals();  // stops and joins the watcher thread
    ShutdownSignals(const ShutdownSignals&) = delete;
    ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  private:
    void run();

    Handler handler_;
    drainmon::UniqueFd signal_fd_;
    drainmon::UniqueFd wake_fd_;
    std::thread thread_;
};

}  // namespace zdd_demo
