// The one LISTEN check (sock_diag, LISTEN-only, filtered on the port) on real loopback sockets.
#include "monitor/listening_ports.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include <catch2/catch.hpp>

#include "tcp_pair.hpp"
#include "test_support.hpp"

using zdd_test::local_port;
using zdd_test::tcp_listen;
using zdd_test::tcp_pair;

namespace {

uint64_t inode_of(int fd) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    return st.st_ino;
}

}  // namespace

TEST_CASE("listeners() finds the LISTEN sockets of one port, IPv4 and IPv6, with inodes") {
    auto l6 = tcp_listen("::1", 0);
    uint16_t P = local_port(l6.get());
    auto l4 = tcp_listen("127.0.0.1", P);
    // Connections on the port and listeners elsewhere are not listeners of P.
    auto p1 = tcp_pair(l4.get(), "127.0.0.1", P);
    auto p2 = tcp_pair(l6.get(), "::1", P);
    auto other = tcp_listen("127.0.0.1", 0);
    uint16_t Q = local_port(other.get());

    auto found = drainmon::listeners(P);
    REQUIRE(found.size() == 2);
    std::vector<uint64_t> inodes;
    for (const auto& l : found) {
        CHECK(l.port == P);
        inodes.push_back(l.inode);
    }
    std::sort(inodes.begin(), inodes.end());
    std::vector<uint64_t> expected{inode_of(l4.get()), inode_of(l6.get())};
    std::sort(expected.begin(), expected.end());
    CHECK(inodes == expected);
    CHECK(std::count_if(found.begin(), found.end(),
                        [](const auto& l) { return l.family == AF_INET6; }) == 1);

    CHECK(drainmon::port_listening(P));
    CHECK(drainmon::port_listening(Q));
    auto all = drainmon::listening_ports();
    CHECK(std::binary_search(all.begin(), all.end(), P));
    CHECK(std::binary_search(all.begin(), all.end(), Q));
    CHECK(std::is_sorted(all.begin(), all.end()));

    l4.reset();
    l6.reset();
    CHECK(drainmon::listeners(P).empty());
    CHECK_FALSE(drainmon::port_listening(P));  // established ones left on P do not count
    all = drainmon::listening_ports();
    CHECK_FALSE(std::binary_search(all.begin(), all.end(), P));
}

TEST_CASE("a port nobody listens on") {
    uint16_t P = zdd_test::free_port();
    CHECK_FALSE(drainmon::port_listening(P));
    CHECK(drainmon::listeners(P).empty());
}
