// An existing upstream file (zdd::parse_upstreams), possibly hand-written or hostile: parsed
// upstreams, or UpstreamParseError with one line. Whatever parses also renders; and where every
// word of an upstream is a bare word (as in all zdd writes: names pass valid_name), what zdd
// renders from it parses back to the same upstream (parse -> render -> parse).
// The renderer does not quote: a quoted name or parameter holding ' ', ';', '{', ... does not
// survive a render, and zdd never renders what it parsed, so that is outside the contract.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "nginx/nginx_upstream.hpp"
#include "upstream_gen.hpp"

namespace {

bool bare_word(std::string_view w) {
    if (w.empty()) return false;
    for (unsigned char c : w)
        if (c < 0x21 || c == 0x7f ||
            std::string_view(";{}#\"'\\").find(static_cast<char>(c)) != std::string_view::npos)
            return false;
    return true;
}

// A directive is kept as its words joined by single spaces.
bool bare_words(std::string_view d) {
    std::size_t start = 0;
    while (true) {
        const auto sp = d.find(' ', start);
        if (!bare_word(d.substr(start, sp == std::string_view::npos ? sp : sp - start)))
            return false;
        if (sp == std::string_view::npos) return true;
        start = sp + 1;
    }
}

bool bare(const zdd::Upstream& u) {
    if (!bare_word(u.name)) return false;
    for (const auto& d : u.directives)
        if (!bare_words(d)) return false;
    for (const auto& s : u.servers) {
        if (!bare_word(s.host)) return false;
        for (const auto& p : s.params)
            if (!bare_word(p)) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<zdd::Upstream> ups;
    try {
        ups = zdd::parse_upstreams(text);
    } catch (const zdd::UpstreamParseError& e) {
        zdd_fuzz::require_one_line(e.what());
        return 0;
    }
    for (const auto& u : ups) {
        if (u.servers.size() > 1000) zdd_fuzz::broken("server limit not enforced");
        const std::string rendered = zdd::render_upstream(u);
        if (!bare(u)) continue;
        zdd::Upstream back;
        try {
            back = zdd::parse_upstream(rendered, u.name);
        } catch (const zdd::UpstreamParseError& e) {
            zdd_fuzz::broken("rendered upstream does not parse:",
                             std::string(e.what()) + "\n" + rendered);
        }
        if (auto d = zdd_fuzz::upstream_difference(u, back); !d.empty())
            zdd_fuzz::broken("parse -> render -> parse changed the upstream:", d + "\n" + rendered);
    }
    return 0;
}
