// nginx times with a known value, from any source of choices (`pick(lo, hi)` returns an integer
// in [lo, hi]): the fuzz target nginx_time feeds it fuzzer bytes, tests/fuzz a seeded PRNG.
// Units come in nginx's decreasing order (ngx_parse_time), each at most once.
#pragma once

#include <string>

namespace zdd_fuzz {

constexpr long long kNginxTimeMax = 1LL << 50;  // parse_nginx_time_ms's bound, in ms

struct GeneratedTime {
    std::string text;   // "" when no unit was picked
    long long want_ms;  // the sum of the parts, -1 when beyond kNginxTimeMax
};

template <class Pick>
GeneratedTime generate_nginx_time(Pick&& pick) {
    struct Unit {
        const char* name;
        long long ms;
    };
    static constexpr Unit kUnits[] = {
        {"y", 365LL * 86400000}, {"M", 30LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
        {"h", 3600000},          {"m", 60000},           {"s", 1000},           {"ms", 1}};
    GeneratedTime t;
    long double sum = 0;  // exact where it matters: at or below 2^50
    for (const auto& u : kUnits) {
        if (pick(0, 2) == 0) continue;
        const long long v = pick(0, 3) == 0 ? pick(0, kNginxTimeMax) : pick(0, 1000);
        t.text +=
            std::string(static_cast<std::size_t>(pick(0, 2)), ' ') + std::to_string(v) + u.name;
        sum += static_cast<long double>(v) * u.ms;
    }
    t.want_ms = sum > kNginxTimeMax ? -1 : static_cast<long long>(sum);
    return t;
}

}  // namespace zdd_fuzz
