#include "sse_reader.hpp"

#include <algorithm>
#include <cctype>

namespace zdd_demo_test {

void SseReader::feed(std::string_view chunk) {
    for (char c : chunk) {
        if (after_cr_) {
            after_cr_ = false;
            if (c == '\n') continue;
        }
        if (c == '\r' || c == '\n') {
            after_cr_ = c == '\r';
            line(partial_);
            partial_.clear();
        } else {
            partial_ += c;
        }
    }
}

void SseReader::reset_connection() {
    partial_.clear();
    after_cr_ = false;
    first_line_ = true;
    cur_ = SseEvent{};
    has_data_ = false;
    id_buffer_ = last_event_id_;
}

void SseReader::line(std::string_view l) {
    // A UTF-8 byte order mark at the very start of the stream is skipped.
    if (first_line_ && l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3);
    first_line_ = false;
    if (l.empty()) return dispatch();
    if (l.front() == ':') return;  // comment
    const size_t colon = l.find(':');
    const std::string_view field = l.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") {
        cur_.event = value;
    } else if (field == "data") {
        if (has_data_) cur_.data += '\n';
        cur_.data += value;
        has_data_ = true;
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) {
            id_buffer_ = value;
            cur_.id = value;
        }
    } else if (field == "retry") {
        const bool digits = !value.empty() && value.size() < 10 &&
                            std::all_of(value.begin(), value.end(),
                                        [](unsigned char ch) { return std::isdigit(ch); });
        if (digits) retry_ms_ = std::stol(std::string(value));
    }
}

void SseReader::dispatch() {
    last_event_id_ = id_buffer_;
    // A block without data is not an event (it may still have set the last event ID).
    if (has_data_) on_event_(cur_);
    cur_ = SseEvent{};
    has_data_ = false;
}

}  // namespace zdd_demo_test
