// Properties of zdd::parse_nginx_time_ms (nginx's time syntax, as zdd doctor reads timeouts):
// on any text it returns -1 or a value in [0, 2^50]; surrounding spaces change nothing; and a
// time written from parts (fuzz/nginx_time_gen.hpp) parses to the sum of its parts, or to -1
// exactly when that sum is out of range; a bare number is seconds.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "nginx/nginx_conf_scan.hpp"
#include "nginx_time_gen.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    // 1. Any text.
    const std::string raw = in.ConsumeRandomLengthString(64);
    const long long r = zdd::parse_nginx_time_ms(raw);
    if (r != -1 && (r < 0 || r > zdd_fuzz::kNginxTimeMax)) zdd_fuzz::broken("out of range:", raw);
    if (zdd::parse_nginx_time_ms(" " + raw + "  ") != r) zdd_fuzz::broken("spaces matter:", raw);

    // 2. A time built from parts: its value is known.
    auto t = zdd_fuzz::generate_nginx_time(
        [&](long long lo, long long hi) { return in.ConsumeIntegralInRange<long long>(lo, hi); });
    if (t.text.empty()) {  // a bare number is seconds
        const long long v = in.ConsumeIntegralInRange<long long>(0, 100000);
        t = {std::to_string(v), v * 1000};
    }
    const long long got = zdd::parse_nginx_time_ms(t.text);
    if (got != t.want_ms)
        zdd_fuzz::broken("wrong value:", t.text + " -> " + std::to_string(got) + ", expected " +
                                             std::to_string(t.want_ms));
    return 0;
}
