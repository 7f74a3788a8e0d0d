// Client side of /stream/test: parse SSE text and check that a stream is complete.
#pragma once

#include <string>
#include <vector>

#include "sse_reader.hpp"

namespace zdd_demo_test {

// Parses complete events (each ended by a blank line); a trailing partial event is dropped.
std::vector<SseEvent> parse_sse(const std::string& text);

// "" when the stream holds events 1..total in order with no gap or repeat (total read from the
// events' own data, and equal to expected_total when that is >= 0), followed by exactly one
// final event named `final_event` ("done" or "cancelled"); otherwise what is wrong.
std::string check_sse(const std::vector<SseEvent>& events, const std::string& final_event,
                      long expected_total = -1);

}  // namespace zdd_demo_test
