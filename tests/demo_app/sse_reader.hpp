// An incremental Server-Sent Events parser that follows the HTML spec's event-stream
// interpretation (CRLF/LF/CR line ends, comments, fields with or without a space after the
// colon, `retry` of digits only, the last event ID set when an event block ends), fed chunk by
// chunk as bytes arrive, the way EventSource reads a stream.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace zdd_demo_test {

struct SseEvent {
    std::string event;  // "" for a plain data event (EventSource's "message")
    std::string id;     // this block's own id field; "" when it has none
    std::string data;
};

class SseReader {
  public:
    using OnEvent = std::function<void(const SseEvent&)>;
    explicit SseReader(OnEvent on_event) : on_event_(std::move(on_event)) {}

    void feed(std::string_view chunk);
    // The connection ended: a partial line or event is dropped, as the spec says; the last
    // event ID and the reconnection time carry over to the next connection.
    void reset_connection();

    // What a reconnect sends as Last-Event-ID ("" means no header).
    const std::string& last_event_id() const { return last_event_id_; }
    // The reconnection time the stream asked for with `retry:`, if any.
    std::optional<long> retry_ms() const { return retry_ms_; }

  private:
    void line(std::string_view l);
    void dispatch();

    OnEvent on_event_;
    std::string partial_;
    bool after_cr_ = false;  // a CR ended the last line; a following LF belongs to it
    bool first_line_ = true;
    SseEvent cur_;
    bool has_data_ = false;
    std::string id_buffer_;
    std::string last_event_id_;
    std::optional<long> retry_ms_;
};

}  // namespace zdd_demo_test
