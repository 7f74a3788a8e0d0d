// sse_stream: the plan and the wire format, then /stream/test over real HTTP.
#include "sse_stream.hpp"

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"
#include "sse_check.hpp"
#include "sse_reader.hpp"

using namespace zdd_demo;
using namespace std::chrono_literals;
using zdd_demo_test::DemoApp;
using zdd_demo_test::http_get;

namespace {
StreamPlan plan_of(std::optional<std::string> d, std::optional<std::string> i) {
    auto p = parse_stream_plan(d, i);
    REQUIRE(std::holds_alternative<StreamPlan>(p));
    return std::get<StreamPlan>(p);
}
std::string error_of(std::optional<std::string> d, std::optional<std::string> i) {
    auto p = parse_stream_plan(d, i);
    REQUIRE(std::holds_alternative<std::string>(p));
    return std::get<std::string>(p);
}
}  // namespace

TEST_CASE("stream plan: events every interval for the duration", "[sse]") {
    CHECK(plan_of("3", std::nullopt).events() == 3);  // default interval 1000 ms
    CHECK(plan_of("3", std::nullopt).interval == 1000ms);
    CHECK(plan_of("1", "250").events() == 4);
    CHECK(plan_of("1", "300").events() == 4);  // at 0, 300, 600, 900 ms
    CHECK(plan_of("1", "1000").events() == 1);
    CHECK(plan_of("1", "5000").events() == 1);
    CHECK(plan_of("0", std::nullopt).events() == 0);
    CHECK(plan_of("604800", "1000").events() == 604800);
}

TEST_CASE("stream plan: bad parameters give a one-line reason", "[sse]") {
    for (auto [d, i] :
         std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>{
             {std::nullopt, std::nullopt},
             {"", std::nullopt},
             {"abc", std::nullopt},
             {"-1", std::nullopt},
             {"1.5", std::nullopt},
             {"604801", std::nullopt},
             {"99999999999999999999999", std::nullopt},
             {"5", "0"},
             {"5", "x"},
             {"5", "3600001"}}) {
        const std::string err = error_of(d, i);
        INFO(err);
        CHECK(!err.empty());
        CHECK(err.find('\n') == std::string::npos);
        CHECK((err.find("duration") != std::string::npos ||
               err.find("interval_ms") != std::string::npos));
    }
}

TEST_CASE("SSE wire format: id, JSON data, done and cancelled", "[sse]") {
    AppIdentity who{"1.2.3", "green", 8081};
    CHECK(sse_event(7, 9, who) ==
          "id: 7\ndata: {\"color\":\"green\",\"n\":7,\"total\":9,\"version\":\"1.2.3\"}\n\n");
    CHECK(sse_done(9) == "event: done\ndata: {\"total\":9}\n\n");
    CHECK(sse_cancelled(4, 9) == "event: cancelled\ndata: {\"sent\":4,\"total\":9}\n\n");
    auto parsed =
        zdd_demo_test::parse_sse(sse_event(1, 2, who) + sse_event(2, 2, who) + sse_done(2));
    CHECK(zdd_demo_test::check_sse(parsed, "done", 2).empty());
    // The checker itself catches a gap.
    auto gap = zdd_demo_test::parse_sse(sse_event(1, 3, who) + sse_event(3, 3, who) + sse_done(3));
    CHECK_FALSE(zdd_demo_test::check_sse(gap, "done", 3).empty());
}

TEST_CASE("/stream/test streams every event then done", "[sse][http]") {
    DemoApp app;
    auto r = http_get(app.url("/stream/test?duration=1&interval_ms=250"), {}, 10000);
    REQUIRE(r.status == 200);
    CHECK(r.content_type.rfind("text/event-stream", 0) == 0);
    auto events = zdd_demo_test::parse_sse(r.body);
    CHECK(zdd_demo_test::check_sse(events, "done", 4) == "");
    CHECK(nlohmann::json::parse(events.front().data).at("version") == "test-1.0");

    auto zero = http_get(app.url("/stream/test?duration=0"), {}, 5000);
    CHECK(zero.status == 200);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zero.body), "done", 0) == "");
}

TEST_CASE("/stream/test rejects bad parameters with 400 and a one-line reason", "[sse][http]") {
    DemoApp app;
    for (const char* query : {"", "?duration=", "?duration=abc", "?duration=-3",
                              "?duration=5&interval_ms=0", "?duration=5&interval_ms=abc"}) {
        INFO(query);
        auto r = http_get(app.url(std::string("/stream/test") + query));
        CHECK(r.status == 400);
        REQUIRE(!r.body.empty());
        CHECK(r.body.find('\n') == r.body.size() - 1);
    }
    // Nothing was counted as a stream.
    CHECK(app.deployment().at("activeStreams") == 0);
}

TEST_CASE("stream plan: Last-Event-ID resumes after that id, within 0..events()", "[sse]") {
    auto p = parse_stream_plan("1", "250", "2");
    REQUIRE(std::holds_alternative<StreamPlan>(p));
    CHECK(std::get<StreamPlan>(p).resume_after == 2);
    CHECK(std::get<StreamPlan>(parse_stream_plan("1", "250", "0")).resume_after == 0);
    CHECK(std::get<StreamPlan>(parse_stream_plan("1", "250", "4")).resume_after == 4);
    CHECK(std::get<StreamPlan>(parse_stream_plan("1", "250", std::nullopt)).resume_after == 0);
    for (const char* bad : {"5", "-1", "x", "", "1.5", " 2", "2 ", "99999999999999999999"}) {
        INFO(bad);
        auto e = parse_stream_plan("1", "250", std::string(bad));
        REQUIRE(std::holds_alternative<std::string>(e));
        const auto& err = std::get<std::string>(e);
        CHECK(err.find("Last-Event-ID") != std::string::npos);
        CHECK(err.find('\n') == std::string::npos);
    }
}

TEST_CASE("SSE wire format: the handoff goodbye sets retry and keeps the last id", "[sse]") {
    CHECK(sse_handoff(200ms) == "retry: 200\nevent: handoff\ndata: {}\n\n");
    std::vector<zdd_demo_test::SseEvent> got;
    zdd_demo_test::SseReader reader([&](const auto& e) { got.push_back(e); });
    reader.feed(sse_event(3, 9, AppIdentity{"1", "blue", 1}) + sse_handoff(750ms));
    REQUIRE(got.size() == 2);
    CHECK(got[1].event == "handoff");
    CHECK(got[1].id.empty());
    CHECK(reader.last_event_id() == "3");
    CHECK(reader.retry_ms() == 750);
}

TEST_CASE("/stream/test with Last-Event-ID continues after it, then done", "[sse][http]") {
    DemoApp app;
    auto r =
        http_get(app.url("/stream/test?duration=1&interval_ms=250"), {"Last-Event-ID: 2"}, 10000);
    REQUIRE(r.status == 200);
    auto events = zdd_demo_test::parse_sse(r.body);
    REQUIRE(events.size() == 3);
    for (long k : {3, 4}) {
        const auto& e = events[static_cast<size_t>(k - 3)];
        CHECK(e.id == std::to_string(k));
        CHECK(nlohmann::json::parse(e.data) ==
              nlohmann::json({{"n", k}, {"total", 4}, {"version", "test-1.0"}, {"color", "blue"}}));
    }
    CHECK(events[2].event == "done");
    CHECK(nlohmann::json::parse(events[2].data).at("total") == 4);

    // After the last id there is only done.
    auto last = http_get(app.url("/stream/test?duration=1&interval_ms=250"), {"Last-Event-ID: 4"});
    REQUIRE(last.status == 200);
    auto only_done = zdd_demo_test::parse_sse(last.body);
    REQUIRE(only_done.size() == 1);
    CHECK(only_done[0].event == "done");

    // A resumed stream joined with its first part is the whole stream.
    auto first = http_get(app.url("/stream/test?duration=1&interval_ms=250"), {}, 10000);
    auto all = zdd_demo_test::parse_sse(first.body);
    REQUIRE(all.size() == 5);
    all.resize(2);
    all.insert(all.end(), events.begin(), events.end());
    CHECK(zdd_demo_test::check_sse(all, "done", 4) == "");
}

TEST_CASE("/stream/test rejects a bad Last-Event-ID with 400 and a one-line reason",
          "[sse][http]") {
    DemoApp app;
    for (const char* id : {"5", "abc", "-1", "1e3"}) {
        INFO(id);
        auto r = http_get(app.url("/stream/test?duration=1&interval_ms=250"),
                          {std::string("Last-Event-ID: ") + id});
        CHECK(r.status == 400);
        CHECK(r.body.find("Last-Event-ID") != std::string::npos);
        CHECK(r.body.find('\n') == r.body.size() - 1);
    }
    CHECK(app.deployment().at("activeStreams") == 0);
}
