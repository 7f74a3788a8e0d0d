// Endpoints as operators read them: make_endpoint's own IPv4 formatting agrees with
// inet_ntop, IPv4-mapped IPv6 reads as IPv4, and canonical() finds the same text.
#include "monitor/socket_sample.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

using drainmon::Endpoint;
using drainmon::make_endpoint;

namespace {

std::string ntop(int family, const void* addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    REQUIRE(::inet_ntop(family, addr, buf, sizeof buf) != nullptr);
    return buf;
}

}  // namespace

TEST_CASE("IPv4 text matches inet_ntop for every octet value in every position") {
    for (unsigned v = 0; v < 256; ++v) {
        const auto b = static_cast<uint8_t>(v);
        for (const auto& a :
             {std::array<uint8_t, 4>{b, 0, 0, 1}, std::array<uint8_t, 4>{10, b, 7, 255},
              std::array<uint8_t, 4>{127, 99, b, 100}, std::array<uint8_t, 4>{1, 200, 9, b}}) {
            const Endpoint e = make_endpoint(AF_INET, a.data(), 8080);
            INFO("octet " << v);
            CHECK(e.family == AF_INET);
            CHECK(e.ip == ntop(AF_INET, a.data()));
            CHECK(e.str() == e.ip + ":8080");
        }
    }
}

TEST_CASE("IPv4-mapped IPv6 reads as IPv4; other IPv6 in brackets") {
    std::array<uint8_t, 16> mapped{};
    mapped[10] = mapped[11] = 0xff;
    mapped[12] = 192;
    mapped[13] = 168;
    mapped[14] = 0;
    mapped[15] = 42;
    const Endpoint m = make_endpoint(AF_INET6, mapped.data(), 443);
    CHECK(m.family == AF_INET);
    CHECK(m.ip == "192.168.0.42");
    CHECK(m.str() == "192.168.0.42:443");

    in6_addr lo = IN6ADDR_LOOPBACK_INIT;
    const Endpoint l = make_endpoint(AF_INET6, &lo, 8081);
    CHECK(l.family == AF_INET6);
    CHECK(l.ip == "::1");
    CHECK(l.str() == "[::1]:8081");
}

TEST_CASE("canonical() gives make_endpoint's text for other spellings of an address") {
    CHECK(drainmon::canonical(Endpoint{AF_INET6, "::ffff:10.0.0.1", 80}).str() == "10.0.0.1:80");
    CHECK(drainmon::canonical(Endpoint{AF_INET6, "0:0::1", 80}).str() == "[::1]:80");
    CHECK(drainmon::canonical(Endpoint{AF_INET, "127.0.0.1", 80}).str() == "127.0.0.1:80");
}
