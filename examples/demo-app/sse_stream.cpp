#include "sse_stream.hpp"

#include <atomic>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "query_params.hpp"

namespace zdd_demo {

namespace {
unsigned long next_stream_id() {
    static std::atomic<unsigned long> last{0};
    return ++last;
}
}  // namespace

long StreamPlan::events() const {
    if (duration.count() <= 0) return 0;
    return (duration.count() + interval.count() - 1) / interval.count();
}

std::variant<StreamPlan, std::string> parse_stream_plan(
    const std::optional<std::string>& duration, const std::optional<std::string>& interval_ms,
    const std::optional<std::string>& last_event_id) {
    auto d = parse_bounded("duration", duration, 0, kMaxStreamSeconds, std::nullopt);
    if (auto* err = std::get_if<std::string>(&d)) return *err;
    auto i = parse_bounded("interval_ms", interval_ms, 1, kMaxIntervalMs, 1000);
    if (auto* err = std::get_if<std::string>(&i)) return *err;
    StreamPlan plan;
    plan.duration = std::chrono::seconds(std::get<long>(d));
    plan.interval = std::chrono::milliseconds(std::get<long>(i));
    auto resume = parse_bounded("Last-Event-ID", last_event_id, 0, plan.events(), 0);
    if (auto* err = std::get_if<std::string>(&resume)) return *err;
    plan.resume_after = std::get<long>(resume);
    return plan;
}

std::string sse_event(long n, long total, const AppIdentity& who) {
    nlohmann::json data = {
        {"n", n}, {"total", total}, {"version", who.version}, {"color", who.color}};
    return "id: " + std::to_string(n) + "\ndata: " + data.dump() + "\n\n";
}

std::string sse_done(long total) {
    return "event: done\ndata: " + nlohmann::json{{"total", total}}.dump() + "\n\n";
}

std::string sse_cancelled(long sent, long total) {
    return "event: cancelled\ndata: " + nlohmann::json{{"sent", sent}, {"total", total}}.dump() +
           "\n\n";
}

std::string sse_handoff(std::chrono::milliseconds retry) {
    return "retry: " + std::to_string(retry.count()) + "\nevent: handoff\ndata: {}\n\n";
}

SseStream::SseStream(AppState& state, StreamPlan plan, std::chrono::milliseconds handoff_retry)
    : state_(state),
      plan_(plan),
      total_(plan.events()),
      handoff_retry_(handoff_retry),
      in_flight_(state.track_stream()),
      ticket_(state.handoff().open_stream()),
      start_(std::chrono::steady_clock::now() - plan.interval * plan.resume_after),
      id_(next_stream_id()),
      last_id_(plan.resume_after) {
    spdlog::info("stream {} start: {} events every {} ms over {} s, after id {} ({} active)", id_,
                 total_, plan_.interval.count(), plan_.duration.count() / 1000, last_id_,
                 state_.active_streams());
}

SseStream::~SseStream() {
    spdlog::info("stream {} stop: {} at id {}/{} ({} events sent here)", id_, outcome_, last_id_,
                 total_, sent_);
}

bool SseStream::client_gone() {
    outcome_ = "client gone";
    return false;
}

bool SseStream::finish(httplib::DataSink& sink, const std::string& last_event, const char* outcome,
                       bool handed_over) {
    if (!sink.write(last_event.data(), last_event.size())) return client_gone();
    outcome_ = outcome;
    if (handed_over) {
        ticket_.handed_over();
    } else {
        ticket_.release();
    }
    sink.done();
    return true;
}

bool SseStream::interrupted(httplib::DataSink& sink) {
    if (state_.cancelled()) return finish(sink, sse_cancelled(last_id_, total_), "cancelled");
    return finish(sink, sse_handoff(handoff_retry_), "handed off", true);
}

bool SseStream::next(httplib::DataSink& sink) {
    // Every call is at a message boundary. A stream opened after the handoff still sends its
    // first event before it leaves, so a client sent back here again makes progress.
    const bool may_hand_off = sent_ > 0;
    if (state_.cancelled() || (may_hand_off && state_.handoff().requested()))
        return interrupted(sink);
    if (last_id_ >= total_) {
        if (!state_.sleep_until(start_ + plan_.duration, may_hand_off)) return interrupted(sink);
        return finish(sink, sse_done(total_), "done");
    }
    if (sent_ > 0 && !state_.sleep_until(start_ + plan_.interval * last_id_, true))
        return interrupted(sink);
    // A client that closed its end is noticed here, before the event, so the stream stops
    // counting at the next event rather than after a failed write and its timeout.
    if (!sink.is_writable()) return client_gone();
    const std::string event = sse_event(last_id_ + 1, total_, state_.identity());
    if (!sink.write(event.data(), event.size())) return client_gone();
    ++last_id_;
    ++sent_;
    return true;
}

}  // namespace zdd_demo
