// Traffic the app does not count: a raw TCP client trickles bytes straight to the old port
// while the app reports 0 streams and 0 requests. The kernel sees it, so zdd keeps waiting,
// says why, and stops the old instance only once that connection has closed.
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "e2e_host.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("e2e raw TCP traffic to the old port holds the drain until it closes", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");

    // An HTTP request that never completes its headers: one byte every 200 ms.
    auto fd = zdd_test::tcp_connect("127.0.0.1", h.blue_port());
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
    struct Join {
        std::atomic<bool>& s;
        std::thread& t;
        ~Join() {
            s = true;
            if (t.joinable()) t.join();
        }
    } join{stop, trickle};

    const std::string err = (h.dir() / "deploy.err").string();
    auto deploy = h.zdd_async("deploy", {h.demo_app_binary(), "--app-poll", "0.5"},
                              {{"APP_VERSION", "v2"}}, err);
    REQUIRE(h.wait_phase("draining", 30s));
    // The app counts nothing; the kernel sees the trickle.
    auto report = h.deployment_report(h.blue_port());
    CHECK(report["activeStreams"] == 0);
    CHECK(report["activeRequests"] == 0);
    REQUIRE(zdd_test::wait_until(
        [&] {
            return zdd_e2e::read_file(err).find("traffic the app does not count") !=
                   std::string::npos;
        },
        10s));
    std::this_thread::sleep_for(3s);
    CHECK(deploy.running());
    CHECK(h.phase() == "draining");
    CHECK(zdd_e2e::process_alive(blue_pid));

    stop = true;
    trickle.join();
    fd.reset();  // close: the last thing blue carried
    const int rc = deploy.wait(30s);
    INFO("zdd stderr:\n" << zdd_e2e::read_file(err));
    CHECK(rc == 0);
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
    CHECK(h.phase() == "done");
}
