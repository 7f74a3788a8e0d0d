// SIGINT/SIGTERM as a readable fd instead of an asynchronous handler, so the inspector's loops
// stop at a safe point and every destructor runs (BPF links and objects are freed).
#pragma once

#include <signal.h>

#include "common/unique_fd.hpp"

namespace drainmon {

class StopSignals {
  public:
    // Blocks SIGINT and SIGTERM in this thread (and threads it starts later): construct it
    // before any thread exists.
    StopSignals();
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    int fd() const { return fd_.get(); }
    // The signal received (SIGINT/SIGTERM) or 0; remembers it once seen.
    int check();
    // Waits up to timeout_ms (-1: forever) for a signal; returns it or 0.
    int wait(int timeout_ms);

  private:
    sigset_t old_{};
    UniqueFd fd_;
    int got_ = 0;
};

}  // namespace drainmon
