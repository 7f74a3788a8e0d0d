// /stream/test: a Server-Sent Events stream of numbered events, ended by `event: done`
// (or `event: cancelled` when the app is interrupted, or `event: handoff` when the instance
// hands its streams over), counted as one active stream. Resumable: the URL and the client's
// Last-Event-ID alone fix where a stream continues, so any instance can resume any stream.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include <httplib.h>

#include "app_state.hpp"

namespace zdd_demo {

struct StreamPlan {
    std::chrono::milliseconds duration{0};
    std::chrono::milliseconds interval{1000};
    // Last-Event-ID: the events up to this id were received; the stream continues after it.
    long resume_after = 0;
    // Events go out at 0, interval, 2*interval, ... while earlier than duration; `done` follows
    // at duration. So duration=3 with the default interval gives events 1, 2, 3 and done at 3 s.
    // A resumed stream keeps that schedule, shifted so that its first event goes out at once.
    long events() const;
};

constexpr long kMaxStreamSeconds = 7 * 24 * 3600;  // streams may run for hours, not forever
constexpr long kMaxIntervalMs = 3600 * 1000;

// duration (seconds, required), interval_ms (default 1000) and the Last-Event-ID header
// (0..events(), default 0); or a one-line reason for a 400.
std::variant<StreamPlan, std::string> parse_stream_plan(
    const std::optional<std::string>& duration, const std::optional<std::string>& interval_ms,
    const std::optional<std::string>& last_event_id = std::nullopt);

// The wire text of each event. Event n (1-based) carries id n and {"n":n,"total":T,...}.
std::string sse_event(long n, long total, const AppIdentity& who);
std::string sse_done(long total);
std::string sse_cancelled(long sent, long total);
// The goodbye of a handed-over stream: reconnect after `retry` (with Last-Event-ID, as
// EventSource does by itself). It carries no id, so the client's last event id stays put.
std::string sse_handoff(std::chrono::milliseconds retry);

// One stream in flight: httplib's chunked content provider calls next() until it ends.
class SseStream {
  public:
    SseStream(AppState& state, StreamPlan plan, std::chrono::milliseconds handoff_retry);
    ~SseStream();  // logs how the stream ended
    SseStream(const SseStream&) = delete;
    SseStream& operator=(const SseStream&) = delete;
    // Waits for the next event's time, then writes it. Returns false when the client is gone,
    // which ends the response; the stream stops counting when httplib drops the provider.
    bool next(httplib::DataSink& sink);

  private:
    bool finish(httplib::DataSink& sink, const std::string& last_event, const char* outcome,
                bool handed_over = false);
    bool client_gone();
    // Woken early from a sleep: the app cancels, or the instance hands its streams over.
    bool interrupted(httplib::DataSink& sink);

    AppState& state_;
    const StreamPlan plan_;
    const long total_;
    const std::chrono::milliseconds handoff_retry_;
    AppState::InFlight in_flight_;
    Handoff::Ticket ticket_;
    // When event 1 went out, or would have for a resumed stream.
    const std::chrono::steady_clock::time_point start_;
    const unsigned long id_;
    long last_id_;   // the last event id the client has
    long sent_ = 0;  // events sent on this connection
    const char* outcome_ = "ended";
};

}  // namespace zdd_demo
