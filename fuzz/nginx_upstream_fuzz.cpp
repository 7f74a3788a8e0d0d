// An existing upstream file (zdd::parse_upstreams), possibly hand-written or hostile: parsed
// upstreams, or UpstreamParseError with one line. Whatever parses also renders.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "nginx/nginx_upstream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        for (const auto& u : zdd::parse_upstreams(text)) {
            if (u.servers.size() > 1000) zdd_fuzz::broken("server limit not enforced");
            (void)zdd::render_upstream(u);
        }
    } catch (const zdd::UpstreamParseError& e) {
        zdd_fuzz::require_one_line(e.what());
    }
    return 0;
}
