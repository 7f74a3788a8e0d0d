// sse_reader: the HTML spec's event-stream interpretation, fed in arbitrary chunks.
#include "sse_reader.hpp"

#include <catch2/catch.hpp>

using zdd_demo_test::SseEvent;
using zdd_demo_test::SseReader;

namespace {
struct Collect {
    std::vector<SseEvent> events;
    SseReader reader{[this](const SseEvent& e) { events.push_back(e); }};
};
}  // namespace

TEST_CASE("sse_reader: line ends, comments, fields, in any chunking", "[sse_reader]") {
    const std::string text =
        "\xEF\xBB\xBF: a comment\r\nid: 1\r\ndata: a\r\ndata:b\r\n\r\n"
        "event: x\rid:2\rdata\r\r"
        "retry: 1500\nid: 3\ndata: {\"k\":1}\n\n";
    for (size_t step : {size_t{1}, size_t{2}, size_t{7}, text.size()}) {
        INFO(step);
        Collect c;
        for (size_t i = 0; i < text.size(); i += step) c.reader.feed(text.substr(i, step));
        REQUIRE(c.events.size() == 3);
        CHECK(c.events[0].id == "1");
        CHECK(c.events[0].data == "a\nb");
        CHECK(c.events[0].event.empty());
        CHECK(c.events[1].event == "x");
        CHECK(c.events[1].id == "2");
        CHECK(c.events[1].data.empty());  // "data" without a colon: an empty data line
        CHECK(c.events[2].data == "{\"k\":1}");
        CHECK(c.reader.last_event_id() == "3");
        CHECK(c.reader.retry_ms() == 1500);
    }
}

TEST_CASE("sse_reader: the last event ID changes only when a block ends", "[sse_reader]") {
    Collect c;
    c.reader.feed("id: 5\ndata: x\n\n");
    CHECK(c.reader.last_event_id() == "5");
    // A block without data dispatches nothing but still sets the id.
    c.reader.feed("id: 6\n\n");
    CHECK(c.events.size() == 1);
    CHECK(c.reader.last_event_id() == "6");
    // A cut mid-event: the partial block is dropped and its id never takes effect.
    c.reader.feed("id: 7\ndata: partial");
    c.reader.reset_connection();
    CHECK(c.reader.last_event_id() == "6");
    c.reader.feed("\n\n");  // the next connection starts clean
    CHECK(c.events.size() == 1);
    // An id with NUL is ignored; retry with anything but digits is ignored.
    c.reader.feed(std::string("id: 8\0x\ndata: y\nretry: 10ms\n\n", 29));
    CHECK(c.events.size() == 2);
    CHECK(c.reader.last_event_id() == "6");
    CHECK_FALSE(c.reader.retry_ms().has_value());
}
