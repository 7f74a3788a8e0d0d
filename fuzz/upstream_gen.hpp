// Well-formed zdd::Upstream values from any source of choices: the fuzz target feeds it fuzzer
// bytes, tests/fuzz feeds it a seeded PRNG. `pick(lo, hi)` returns an integer in [lo, hi].
// What it makes is what zdd renders in practice (hosts, weights, keepalive) plus parameters and
// directives an operator may have written, so render -> parse must give it back exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nginx/nginx_upstream.hpp"

namespace zdd_fuzz {

template <class Pick>
zdd::Upstream generate_upstream(Pick&& pick) {
    static const char* const kHosts[] = {"127.0.0.1", "localhost",    "::1",         "10.1.2.3",
                                         "fe80::1",   "app.internal", "2001:db8::7", "0.0.0.0"};
    static const char* const kParams[] = {"max_fails=3", "fail_timeout=10s", "backup",
                                          "down",        "max_conns=100",    "slow_start=30s"};
    static const char* const kDirectives[] = {"least_conn",
                                              "ip_hash",
                                              "keepalive_timeout 60s",
                                              "zone backend 64k",
                                              "keepalive_requests 1000",
                                              "random two least_conn"};
    static const char kNameChars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    zdd::Upstream u;
    const int name_len = static_cast<int>(pick(1, 24));
    for (int i = 0; i < name_len; ++i)
        u.name += kNameChars[pick(0, static_cast<long long>(sizeof kNameChars) - 2)];
    const int directives = static_cast<int>(pick(0, 2));
    for (int i = 0; i < directives; ++i)
        u.directives.push_back(kDirectives[pick(0, std::size(kDirectives) - 1)]);
    const int servers = static_cast<int>(pick(1, 6));
    for (int i = 0; i < servers; ++i) {
        zdd::UpstreamServer s;
        s.host = kHosts[pick(0, std::size(kHosts) - 1)];
        s.port = static_cast<uint16_t>(pick(1, 65535));
        s.weight = static_cast<int>(pick(0, 3) == 0 ? pick(1, 3) : pick(1, 1000));
        const int params = static_cast<int>(pick(0, 2));
        for (int p = 0; p < params; ++p)
            s.params.push_back(kParams[pick(0, std::size(kParams) - 1)]);
        u.servers.push_back(std::move(s));
    }
    u.keepalive = static_cast<int>(pick(0, 2) == 0 ? 0 : pick(1, 1024));
    return u;
}

// "" when a and b are the same upstream, else what differs (for the failure message).
inline std::string upstream_difference(const zdd::Upstream& a, const zdd::Upstream& b) {
    if (a.name != b.name) return "name " + a.name + " vs " + b.name;
    if (a.keepalive != b.keepalive)
        return "keepalive " + std::to_string(a.keepalive) + " vs " + std::to_string(b.keepalive);
    if (a.directives != b.directives) return "directives differ";
    if (a.servers.size() != b.servers.size())
        return "server count " + std::to_string(a.servers.size()) + " vs " +
               std::to_string(b.servers.size());
    for (std::size_t i = 0; i < a.servers.size(); ++i) {
        const auto &x = a.servers[i], &y = b.servers[i];
        const std::string at = "server " + std::to_string(i) + ": ";
        if (x.host != y.host) return at + "host " + x.host + " vs " + y.host;
        if (x.port != y.port)
            return at + "port " + std::to_string(x.port) + " vs " + std::to_string(y.port);
        if (x.weight != y.weight)
            return at + "weight " + std::to_string(x.weight) + " vs " + std::to_string(y.weight);
        if (x.params != y.params) return at + "params differ";
    }
    return "";
}

}  // namespace zdd_fuzz
