#include "app_state.hpp"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace zdd_demo {

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::serving:
            return "ok";
        case Phase::draining:
            return "draining";
        case Phase::cancelling:
            return "cancelling";
    }
    return "unknown";
}

AppState::AppState(AppIdentity identity)
    : identity_(std::move(identity)),
      started_(std::chrono::steady_clock::now()),
      stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!stop_fd_) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
}

AppState::InFlight::InFlight(AppState& state, std::atomic<int>& counter)
    : state_(&state), counter_(&counter) {
    counter_->fetch_add(1);
}

AppState::InFlight::InFlight(InFlight&& o) noexcept
    : state_(std::exchange(o.state_, nullptr)), counter_(std::exchange(o.counter_, nullptr)) {}

AppState::InFlight::~InFlight() {
    if (!counter_) return;
    counter_->fetch_sub(1);
    state_->finished_one();
}

long AppState::uptime_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                            started_)
        .count();
}

void AppState::finished_one() {
    // Taking the lock orders the notify after a waiter's predicate check.
    std::lock_guard lock(idle_mu_);
    idle_cv_.notify_all();
}

void AppState::wake_stop() {
    uint64_t one = 1;
    (void)!::write(stop_fd_.get(), &one, sizeof one);
    std::lock_guard lock(sleep_mu_);
    sleep_cv_.notify_all();
}

bool AppState::begin_drain() {
    Phase expected = Phase::serving;
    if (!phase_.compare_exchange_strong(expected, Phase::draining)) return false;
    wake_stop();
    return true;
}

bool AppState::cancel() {
    if (phase_.exchange(Phase::cancelling) == Phase::cancelling) return false;
    wake_stop();
    return true;
}

int AppState::request_handoff() {
    const int pending = handoff_.request();
    std::lock_guard lock(sleep_mu_);
    sleep_cv_.notify_all();
    return pending;
}

bool AppState::sleep_until(std::chrono::steady_clock::time_point deadline, bool wake_on_handoff) {
    std::unique_lock lock(sleep_mu_);
    return !sleep_cv_.wait_until(
        lock, deadline, [&] { return cancelled() || (wake_on_handoff && handoff_.requested()); });
}

bool AppState::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(idle_mu_);
    return idle_cv_.wait_for(lock, timeout, [&] { return ready_for_shutdown(); });
}

}  // namespace zdd_demo
