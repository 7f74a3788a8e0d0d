// What the demo app knows about itself: identity, in-flight work, and its shutdown phase.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "common/unique_fd.hpp"
#include "handoff.hpp"

namespace zdd_demo {

struct AppIdentity {
    std::string version;
    std::string color;
    int port = 0;
};

enum class Phase {
    serving,     // normal operation
    draining,    // SIGTERM: listener closed, in-flight work runs to its end
    cancelling,  // SIGINT: streams and requests are cut short
};

const char* phase_name(Phase p);

class AppState {
  public:
    explicit AppState(AppIdentity identity);

    const AppIdentity& identity() const { return identity_; }
    void set_port(int port) { identity_.port = port; }

    // Counts one stream or request for as long as it lives (move-only RAII).
    class InFlight {
      public:
        InFlight(AppState& state, std::atomic<int>& counter);
        ~InFlight();
        InFlight(InFlight&& o) noexcept;
        InFlight(const InFlight&) = delete;
        InFlight& operator=(const InFlight&) = delete;
        InFlight& operator=(InFlight&&) = delete;

      private:
        AppState* state_;
        std::atomic<int>* counter_;
    };
    InFlight track_stream() { return InFlight(*this, streams_); }
    InFlight track_request() { return InFlight(*this, requests_); }

    int active_streams() const { return streams_.load(); }
    int active_requests() const { return requests_.load(); }
    bool ready_for_shutdown() const { return active_streams() == 0 && active_requests() == 0; }
    long uptime_seconds() const;

    Phase phase() const { return phase_.load(); }
    bool cancelled() const { return phase() == Phase::cancelling; }
    // Returns false when the app was already draining or cancelling.
    bool begin_drain();
    // Cancel wins over drain: a SIGINT during a drain still cuts the streams.
    bool cancel();

    // Streams to hand over (POST /health/deployment/handoff).
    Handoff& handoff() { return handoff_; }
    const Handoff& handoff() const { return handoff_; }
    // Asks every stream to hand over and wakes the sleeping ones; the streams still to go.
    int request_handoff();

    // Sleeps until `deadline`; returns false early when the app is cancelled, or with
    // `wake_on_handoff` once a handoff is requested (a stream between events is at a boundary).
    bool sleep_until(std::chrono::steady_clock::time_point deadline, bool wake_on_handoff = false);
    // Waits until nothing is in flight; false on timeout.
    bool wait_idle(std::chrono::milliseconds timeout);
    // Readable from the moment the app drains or cancels (never reset), so a connection waiting
    // idle for its next keep-alive request can poll it next to its socket and leave at once.
    int stop_fd() const { return stop_fd_.get(); }

  private:
    void finished_one();
    void wake_stop();

    AppIdentity identity_;
    const std::chrono::steady_clock::time_point started_;
    std::atomic<int> streams_{0};
    std::atomic<int> requests_{0};
    std::atomic<Phase> phase_{Phase::serving};
    Handoff handoff_;
    drainmon::UniqueFd stop_fd_;
    // Two pairs so that thousands of sleeping streams are woken only by a cancel or a handoff,
    // never by every stream that ends.
    std::mutex sleep_mu_;
    std::condition_variable sleep_cv_;
    std::mutex idle_mu_;
    std::condition_variable idle_cv_;
};

}  // namespace zdd_demo
