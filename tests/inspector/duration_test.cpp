// One duration range for every timeout, interval and threshold (issue 13, findings 2 and 13):
// the parser itself, and drain-inspector's flags and DRAIN_TIMEOUT as a real process. 1e10
// used to overflow into an immediate "timed out after 0.01s"; nan was accepted.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <limits>

#include "common/duration.hpp"
#include "inspector_process.hpp"

using namespace drainmon;
using namespace std::chrono_literals;

TEST_CASE("the duration parser: range, nan, inf, negative") {
    CHECK(parse_duration_seconds("2", ZeroIs::refused) == 2);
    CHECK(parse_duration_seconds("1.5", ZeroIs::refused) == 1.5);
    CHECK(parse_duration_seconds("1e3", ZeroIs::refused) == 1000);
    CHECK(parse_duration_seconds("2592000", ZeroIs::refused) == kMaxDurationSeconds);
    CHECK(parse_duration_seconds("0", ZeroIs::forever) == 0);
    CHECK(parse_duration_seconds("0", ZeroIs::allowed) == 0);
    CHECK(parse_duration_seconds("0.001", ZeroIs::refused) == 0.001);
    for (const char* bad : {"1e10", "9.3e9", "2592000.5", "inf", "infinity", "1e400"})
        CHECK_THROWS_WITH(parse_duration_seconds(bad, ZeroIs::forever),
                          Catch::Contains("out of range") && Catch::Contains("use 0 for forever"));
    for (const char* bad : {"nan", "NaN", "", "abc", "1s", " 1", "+1", "0x10", "1,5"})
        CHECK_THROWS_WITH(parse_duration_seconds(bad, ZeroIs::forever),
                          Catch::Contains("not a number"));
    CHECK_THROWS_WITH(parse_duration_seconds("-1", ZeroIs::forever),
                      Catch::Contains("negative") && Catch::Contains("use 0 for forever"));
    CHECK_THROWS_WITH(parse_duration_seconds("-0.5", ZeroIs::allowed), Catch::Contains("negative"));
    CHECK_THROWS_WITH(parse_duration_seconds("0", ZeroIs::refused), Catch::Contains("more than 0"));
    // Below 1 ms would round to 0 ms, which means forever for a timeout.
    CHECK_THROWS_WITH(parse_duration_seconds("0.0004", ZeroIs::forever),
                      Catch::Contains("below 1 ms"));
    // "use 0 for forever" only where 0 means forever.
    CHECK_THROWS_WITH(parse_duration_seconds("1e10", ZeroIs::refused), !Catch::Contains("forever"));
}

TEST_CASE("every accepted duration fits 32-bit ms and a steady_clock deadline") {
    CHECK(duration_ms(kMaxDurationSeconds).count() <= std::numeric_limits<uint32_t>::max());
    CHECK(duration_ms(kMaxDurationSeconds) == std::chrono::milliseconds(2592000000LL));
    CHECK(duration_ms(1.2345) == 1235ms);
    CHECK(duration_ms(0) == 0ms);
    // Out-of-range input saturates instead of wrapping (callers check first anyway).
    CHECK(duration_ms(1e300) == duration_ms(kMaxDurationSeconds));
    CHECK(duration_ms(std::nan("")) == 0ms);
    const auto now = std::chrono::steady_clock::now();
    CHECK(now + duration_ms(kMaxDurationSeconds) > now);
}

TEST_CASE("drain-inspector refuses out-of-range durations with exit 2 and one line") {
    struct Case {
        std::vector<std::string> args;
        std::map<std::string, std::string> env;
        std::string says;
    };
    const std::vector<Case> cases = {
        {{"wait", "-p", "1", "--timeout", "1e10"}, {}, "use 0 for forever"},
        {{"wait", "-p", "1", "--timeout", "9.3e9"}, {}, "use 0 for forever"},
        {{"wait", "-p", "1", "--timeout", "nan"}, {}, "not a number"},
        {{"wait", "-p", "1", "--timeout", "inf"}, {}, "out of range"},
        {{"wait", "-p", "1", "--timeout", "-5"}, {}, "negative"},
        {{"wait", "-p", "1"}, {{"DRAIN_TIMEOUT", "1e10"}}, "use 0 for forever"},
        {{"wait", "-p", "1", "--app-timeout", "1e10"}, {}, "--app-timeout"},
        {{"wait", "-p", "1", "--poll-interval", "0"}, {}, "more than 0"},
        {{"snapshot", "--stuck-after", "4294968"}, {}, "--stuck-after"},  // > 2^32 ms
        {{"snapshot", "--idle-after", "nan"}, {}, "--idle-after"},
        {{"watch", "--interval", "inf"}, {}, "--interval"},
    };
    for (const auto& c : cases) {
        INFO(c.args.back());
        auto r = zdd_test::run_inspector(c.args, 30s, c.env);
        CHECK(r.status == 2);
        CHECK_THAT(r.err, Catch::Contains(c.says));
        CHECK(zdd_test::count_lines(r.err) == 1);
    }
}
