// drain-inspector wait --min-drain and --ignore-remote as a real process on real loopback
// sockets: a quiet port is not declared drained before --min-drain; a peer in an ignored CIDR
// exchanging data does not hold the wait, and is listed as ignored.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include "inspector_process.hpp"

using namespace zdd_test;
using namespace std::chrono_literals;

namespace {

// A client bound to `from` (any 127/8 address works on loopback) that keeps data flowing.
struct Chatty {
    UniqueFd client, server;
    std::atomic<bool> stop{false};
    std::thread t;
    Chatty(int listen_fd, uint16_t port, const std::string& from) {
        client = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        ::inet_pton(AF_INET, from.c_str(), &a.sin_addr);
        REQUIRE(::bind(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
        server = tcp_accept(listen_fd);
        t = std::thread([this] {
            char buf[64];
            while (!stop) {
                (void)!::send(client.get(), "x", 1, MSG_NOSIGNAL);
                (void)!::recv(server.get(), buf, sizeof buf, MSG_DONTWAIT);
                std::this_thread::sleep_for(100ms);
            }
        });
    }
    ~Chatty() {
        stop = true;
        t.join();
    }
};

double took_seconds(const std::string& out) {
    auto at = out.find("drained after ");
    REQUIRE(at != std::string::npos);
    return std::atof(out.c_str() + at + 14);
}

}  // namespace

TEST_CASE("wait --min-drain never declares a quiet port drained sooner") {
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    const uint16_t port = local_port(l.get());
    RunResult r = run_inspector({"wait", "--port", std::to_string(port), "--min-drain", "2",
                                 "--timeout", "30", "--backend", "sock_diag"});
    INFO("stdout: " << r.out << "stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(took_seconds(r.out) >= 2.0);
    CHECK(r.err.find("--min-drain holds") != std::string::npos);
    // Without it, the same quiet port is drained at once.
    RunResult plain = run_inspector(
        {"wait", "--port", std::to_string(port), "--timeout", "30", "--backend", "sock_diag"});
    INFO("plain stdout: " << plain.out << "stderr: " << plain.err);
    CHECK(plain.status == 0);
    CHECK(plain.err.find("--min-drain holds") == std::string::npos);  // nothing held it
}

TEST_CASE("wait --ignore-remote: an ignored peer's traffic does not hold the drain") {
    UniqueFd l = tcp_listen("127.0.0.1", 0);
    const uint16_t port = local_port(l.get());
    Chatty agent(l.get(), port, "127.0.0.2");
    std::this_thread::sleep_for(300ms);

    RunResult held = run_inspector(
        {"wait", "--port", std::to_string(port), "--timeout", "1", "--backend", "sock_diag"});
    INFO("held stdout: " << held.out << "stderr: " << held.err);
    CHECK(held.status == 1);

    RunResult r = run_inspector({"wait", "--port", std::to_string(port), "--timeout", "10",
                                 "--ignore-remote", "127.0.0.2/32", "--backend", "sock_diag"});
    INFO("stdout: " << r.out << "stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out.find("ignored (--ignore-remote): 127.0.0.1:" + std::to_string(port) +
                     " <- 127.0.0.2:") != std::string::npos);

    RunResult bad = run_inspector({"wait", "--port", std::to_string(port), "--ignore-remote",
                                   "127.0.0.1/8", "--backend", "sock_diag"});
    CHECK(bad.status == 2);
    CHECK(bad.err.find("host bits set") != std::string::npos);
}
