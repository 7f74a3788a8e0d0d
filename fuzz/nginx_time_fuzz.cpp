// Properties of zdd::parse_nginx_time_ms (nginx's time syntax, as zdd doctor reads timeouts):
// on any text it returns -1 or a value in [0, 2^50]; surrounding spaces change nothing; and a
// time written from parts (units in nginx's decreasing order, values from the fuzzer) parses
// to the sum of its parts, or to -1 exactly when that sum is out of range.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "nginx/nginx_conf_scan.hpp"

namespace {

constexpr long long kMax = 1LL << 50;

struct Unit {
    const char* name;
    long long ms;
};
constexpr Unit kUnits[] = {
    {"y", 365LL * 86400000}, {"M", 30LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
    {"h", 3600000},          {"m", 60000},           {"s", 1000},           {"ms", 1}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    // 1. Any text.
    const std::string raw = in.ConsumeRandomLengthString(64);
    const long long r = zdd::parse_nginx_time_ms(raw);
    if (r != -1 && (r < 0 || r > kMax)) zdd_fuzz::broken("out of range:", raw);
    if (zdd::parse_nginx_time_ms(" " + raw + "  ") != r) zdd_fuzz::broken("spaces matter:", raw);

    // 2. A time built from parts: its value is known.
    std::string text;
    long double expected = 0;  // exact enough to tell in from out of range
    bool any = false;
    for (const auto& u : kUnits) {
        if (!in.ConsumeBool()) continue;
        const long long v = in.ConsumeIntegralInRange<long long>(0, in.ConsumeBool() ? 1000 : kMax);
        text += std::string(in.ConsumeIntegralInRange(0, 2), ' ') + std::to_string(v) + u.name;
        expected += static_cast<long double>(v) * u.ms;
        any = true;
    }
    // A bare number is seconds.
    if (!any && in.ConsumeBool()) {
        const long long v = in.ConsumeIntegralInRange<long long>(0, 100000);
        text = std::to_string(v);
        expected = v * 1000.0L;
        any = true;
    }
    if (!any) return 0;
    const long long got = zdd::parse_nginx_time_ms(text);
    const long long want = expected > kMax ? -1 : static_cast<long long>(expected);
    if (got != want)
        zdd_fuzz::broken("wrong value:", text + " -> " + std::to_string(got) + ", expected " +
                                             std::to_string(want));
    return 0;
}
