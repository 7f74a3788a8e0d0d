// Stream handoff (docs/health-contract.md, optional part): once POST /health/deployment/handoff
// asks for it, every open stream ends at its next message boundary with a resumable goodbye
// (SSE: `retry:` and `event: handoff`), so a deploy need not wait for streams to run out.
// This counts the streams still to hand over and those handed over, exactly.
#pragma once

#include <atomic>

namespace zdd_demo {

class Handoff {
  public:
    // Marks the instance as leaving (idempotent); the streams still to hand over.
    int request();
    bool requested() const { return requested_.load(); }
    // Streams open and not yet handed over since the request; 0 before any request.
    int pending() const { return requested() ? open_.load() : 0; }
    int handed_off() const { return handed_off_.load(); }

    // One per open stream (move-only RAII): it counts as open until it is handed over or ends.
    class Ticket {
      public:
        explicit Ticket(Handoff& h);
        ~Ticket() { release(); }
        Ticket(Ticket&& o) noexcept;
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;
        Ticket& operator=(Ticket&&) = delete;
        // The stream sent its handoff event and closes.
        void handed_over();
        // The stream ended otherwise (done, cancelled, client gone).
        void release();

      private:
        Handoff* h_;
    };
    Ticket open_stream() { return Ticket(*this); }

  private:
    std::atomic<bool> requested_{false};
    std::atomic<int> open_{0};
    std::atomic<int> handed_off_{0};
};

}  // namespace zdd_demo
