// zdd --min-drain and --ignore-remote (issue 11.3) through a real deploy: the drain lasts at
// least --min-drain; a monitoring agent's connection (from 127.0.0.2) straight to the old port
// does not hold the drain when its CIDR is ignored, and is named in the output.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "e2e_host.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("e2e --min-drain holds a drain that has nothing left", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    auto r = h.zdd("deploy", {h.demo_app_binary(), "--min-drain", "3"});
    CHECK(r.status == 0);
    CHECK(r.err.find("--min-drain holds") != std::string::npos);
    CHECK(r.err.find("blue drained after 0m 3s") != std::string::npos);
    // A minimum beyond the timeout makes no sense.
    CHECK(h.zdd("deploy", {h.demo_app_binary(), "--min-drain", "10", "--drain-timeout", "5"})
              .status == 2);
}

TEST_CASE("e2e --ignore-remote: an agent's connection to the old port does not hold it", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    // An agent on 127.0.0.2 trickling an HTTP request straight into blue.
    zdd_test::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(h.blue_port());
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    REQUIRE(::send(fd.get(), head.data(), head.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(head.size()));
    std::atomic<bool> stop{false};
    std::thread trickle([&] {
        while (!stop) {
            (void)!::send(fd.get(), "a", 1, MSG_NOSIGNAL);
            std::this_thread::sleep_for(200ms);
        }
    });

    auto r = h.zdd("deploy", {h.demo_app_binary(), "--ignore-remote", "127.0.0.2/32",
                              "--drain-timeout", "60"});
    stop = true;
    trickle.join();
    CHECK(r.status == 0);
    CHECK(r.err.find("ignored peer (--ignore-remote): 127.0.0.1:" + std::to_string(h.blue_port()) +
                     " <- 127.0.0.2:") != std::string::npos);
    CHECK(r.err.find("drain timeout") == std::string::npos);
    CHECK(h.color_through_nginx() == "green");
    CHECK(h.zdd("deploy", {h.demo_app_binary(), "--ignore-remote", "10.0.0.1/8"}).status == 2);
}
