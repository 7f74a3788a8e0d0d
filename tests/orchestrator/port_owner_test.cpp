// Who listens on a port: zdd's adoption and busy-port checks, on a real loopback listener.
#include "runner/port_owner.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include "test_support.hpp"

TEST_CASE("port_owner finds this process behind its LISTEN socket") {
    auto lst = zdd_test::tcp_listen("127.0.0.1", 0);
    uint16_t P = zdd_test::local_port(lst.get());
    CHECK(zdd::port_listening(P));
    auto pid = zdd::listener_pid(P);
    REQUIRE(pid);
    CHECK(*pid == ::getpid());

    lst.reset();
    CHECK_FALSE(zdd::port_listening(P));
    CHECK_FALSE(zdd::listener_pid(P));
}
