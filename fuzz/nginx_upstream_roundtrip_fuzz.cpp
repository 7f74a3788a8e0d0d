// render -> parse round trip of the upstream file zdd writes: an upstream made from the fuzzer's
// bytes (fuzz/upstream_gen.hpp) is rendered, parsed back by name, and must come back exactly;
// rendering that again gives the same text.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "nginx/nginx_upstream.hpp"
#include "upstream_gen.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    const zdd::Upstream u = zdd_fuzz::generate_upstream(
        [&](long long lo, long long hi) { return in.ConsumeIntegralInRange<long long>(lo, hi); });
    const std::string text = zdd::render_upstream(u);
    zdd::Upstream back;
    try {
        back = zdd::parse_upstream(text, u.name);
    } catch (const zdd::UpstreamParseError& e) {
        zdd_fuzz::broken("rendered upstream does not parse:", std::string(e.what()) + "\n" + text);
    }
    if (auto d = zdd_fuzz::upstream_difference(u, back); !d.empty())
        zdd_fuzz::broken("round trip changed the upstream:", d + "\n" + text);
    if (zdd::render_upstream(back) != text) zdd_fuzz::broken("rendering is not stable:", text);
    return 0;
}
