// /stream/test: a Server-Sent Events stream of numbered events, ended by `event: done`
// (or `event: cancelled` when the app is interrupted), counted as one active stream.
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
    // Events go out at 0, interval, 2*interval, ... while earlier than duration; `done` follows
    // at duration. So duration=3 with the default interval gives events 1, 2, 3 and done at 3 s.
    long events() const;
};

constexpr long kMaxStreamSeconds = 7 * 24 * 3600;  // streams may run for hours, not forever
constexpr long kMaxIntervalMs = 3600 * 1000;

// duration (seconds, required) and interval_ms (default 1000); or a one-line reason for a 400.
std::variant<StreamPlan, std::string> parse_stream_plan(
    const std::optional<std::string>& duration, const std::optional<std::string>& interval_ms);

// The wire text of each event. Event n (1-based) carries id n and {"n":n,"total":T,...}.
std::string sse_event(long n, long total, const AppIdentity& who);
std::string sse_done(long total);
std::string sse_cancelled(long sent, long total);

// One stream in flight: httplib's chunked content provider calls next() until it ends.
class SseStream {
  public:
    SseStream(AppState& state, StreamPlan plan);
    ~SseStream();  // logs how the stream ended
    SseStream(const SseStream&) = delete;
    SseStream& operator=(const SseStream&) = delete;
    // Waits for the next event's time, then writes it. Returns false when the client is gone,
    // which ends the response; the stream stops counting when httplib drops the provider.
    bool next(httplib::DataSink& sink);

  private:
    bool finish(httplib::DataSink& sink, const std::string& last_event, const char* outcome);
    bool client_gone();

    AppState& state_;
    const StreamPlan plan_;
    const long total_;
    AppState::InFlight in_flight_;
    const std::chrono::steady_clock::time_point start_;
    const unsigned long id_;
    long sent_ = 0;
    const char* outcome_ = "ended";
};

}  // namespace zdd_demo
