#include "handoff.hpp"

#include <utility>

namespace zdd_demo {

int Handoff::request() {
    requested_.store(true);
    return open_.load();
}

Handoff::Ticket::Ticket(Handoff& h) : h_(&h) {
    h_->open_.fetch_add(1);
}

Handoff::Ticket::Ticket(Ticket&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}

void Handoff::Ticket::handed_over() {
    if (!h_) return;
    // Counted as handed over before it stops counting as open, so pending + handedOff never
    // dips below the streams a report has seen.
    h_->handed_off_.fetch_add(1);
    release();
}

void Handoff::Ticket::release() {
    if (!h_) return;
    std::exchange(h_, nullptr)->open_.fetch_sub(1);
}

}  // namespace zdd_demo
