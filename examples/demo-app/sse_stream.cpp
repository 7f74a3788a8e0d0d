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
    const std::optional<std::string>& duration, const std::optional<std::string>& interval_ms) {
    auto d = parse_bounded("duration", duration, 0, kMaxStreamSeconds, std::nullopt);
    if (auto* err = std::get_if<std::string>(&d)) return *err;
    auto i = parse_bounded("interval_ms", interval_ms, 1, kMaxIntervalMs, 1000);
    if (auto* err = std::get_if<std::string>(&i)) return *err;
    StreamPlan plan;
    plan.duration = std::chrono::seconds(std::get<long>(d));
    plan.interval = std::chrono::milliseconds(std::get<long>(i));
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

SseStream::SseStream(AppState& state, StreamPlan plan)
    : state_(state),
      plan_(plan),
      total_(plan.events()),
      in_flight_(state.track_stream()),
      start_(std::chrono::steady_clock::now()),
      id_(next_stream_id()) {
    spdlog::info("stream {} start: {} events every {} ms over {} s ({} streams active)", id_,
                 total_, plan_.interval.count(), plan_.duration.count() / 1000,
                 state_.active_streams());
}

SseStream::~SseStream() {
    spdlog::info("stream {} stop: {} after {}/{} events", id_, outcome_, sent_, total_);
}

bool SseStream::client_gone() {
    outcome_ = "client gone";
    return false;
}

bool SseStream::finish(httplib::DataSink& sink, const std::string& last_event,
                       const char* outcome) {
    if (!sink.write(last_event.data(), last_event.size())) return client_gone();
    outcome_ = outcome;
    sink.done();
    return true;
}

bool SseStream::next(httplib::DataSink& sink) {
    auto cancelled = [&] { return finish(sink, sse_cancelled(sent_, total_), "cancelled"); };
    if (state_.cancelled()) return cancelled();
    if (sent_ >= total_) {
        if (!state_.sleep_until(start_ + plan_.duration)) return cancelled();
        return finish(sink, sse_done(total_), "done");
    }
    if (sent_ > 0 && !state_.sleep_until(start_ + plan_.interval * sent_)) return cancelled();
    // A client that closed its end is noticed here, before the event, so the stream stops
    // counting at the next event rather than after a failed write and its timeout.
    if (!sink.is_writable()) return client_gone();
    const std::string event = sse_event(sent_ + 1, total_, state_.identity());
    if (!sink.write(event.data(), event.size())) return client_gone();
    ++sent_;
    return true;
}

}  // namespace zdd_demo
