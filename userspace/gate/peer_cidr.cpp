#include "gate/peer_cidr.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <charconv>

namespace drainmon {

namespace {

bool prefix_matches(const uint8_t* a, const uint8_t* b, int bits) {
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
        if ((a[i] & mask) != (b[i] & mask)) return false;
    }
    return true;
}

}  // namespace

PeerCidr parse_peer_cidr(const std::string& text) {
    auto bad = [&](const std::string& why) {
        return CidrError("--ignore-remote '" + text + "': " + why +
                         " (expected an address or CIDR like 10.0.0.0/8 or fd00::/8)");
    };
    PeerCidr c;
    const auto slash = text.find('/');
    const std::string host = text.substr(0, slash);
    if (::inet_pton(AF_INET, host.c_str(), c.addr.data()) == 1)
        c.family = AF_INET;
    else if (::inet_pton(AF_INET6, host.c_str(), c.addr.data()) == 1)
        c.family = AF_INET6;
    else
        throw bad("not an IP address");
    const int max = c.family == AF_INET ? 32 : 128;
    c.prefix = max;
    if (slash != std::string::npos) {
        const std::string p = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), c.prefix);
        if (p.empty() || ec != std::errc() || end != p.data() + p.size() || c.prefix < 0 ||
            c.prefix > max)
            throw bad("prefix must be 0-" + std::to_string(max));
    }
    std::array<uint8_t, 16> masked{};
    for (int i = 0, bits = c.prefix; bits > 0; ++i, bits -= 8)
        masked[i] = c.addr[i] & (bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits)));
    if (masked != c.addr) throw bad("host bits set");
    c.text = host + "/" + std::to_string(c.prefix);
    return c;
}

bool PeerCidr::contains(const Endpoint& peer) const {
    std::array<uint8_t, 16> a{};
    if (::inet_pton(AF_INET, peer.ip.c_str(), a.data()) == 1) {
        if (family != AF_INET) return false;
    } else if (::inet_pton(AF_INET6, peer.ip.c_str(), a.data()) == 1) {
        if (family != AF_INET6) return false;
    } else {
        return false;
    }
    return prefix_matches(a.data(), addr.data(), prefix);
}

}  // namespace drainmon
