// The handoff request (gate/handoff.hpp) against a real HTTP server (cpp-httplib in this
// process): 202 with the count, 404 (not implemented), 401, 503, no answer; and the one line a
// drain prints for each.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "fake_proxy.hpp"
#include "gate/handoff.hpp"
#include "http_test_server.hpp"
#include "test_support.hpp"

using namespace drainmon;
using namespace std::chrono_literals;

namespace {

constexpr const char* kToken = "handoff-token";

class HandoffApp {
  public:
    HandoffApp() {
        auto& svr = http_.server();
        svr.Post("/health/deployment/handoff",
                 [this](const httplib::Request& req, httplib::Response& res) {
                     {
                         std::lock_guard lock(mu_);
                         ++posts_;
                     }
                     if (req.get_header_value("Authorization") != std::string("Bearer ") + kToken) {
                         res.status = 401;
                         return;
                     }
                     res.status = 202;
                     res.set_content(R"({"handoffPending":3})", "application/json");
                 });
        svr.Post("/none/handoff", [](const httplib::Request&, httplib::Response& res) {
            res.status = 202;  // accepted, but no count
        });
        svr.Post("/down/handoff",
                 [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
        // Answers 202 only when the test is over (bounded): a client that came back with
        // anything but its own timeout's failure waited for it.
        svr.Post("/slow/handoff", [this](const httplib::Request&, httplib::Response& res) {
            zdd_test::wait_until([this] { return closing_.load(); }, 60s, 10ms);
            res.status = 202;
        });
        http_.start();
    }
    ~HandoffApp() { closing_ = true; }  // then http_ stops first (declared last)
    std::string url(const std::string& path) const { return http_.url(path); }
    int port() const { return http_.port(); }
    int posts() {
        std::lock_guard lock(mu_);
        return posts_;
    }

  private:
    std::mutex mu_;
    int posts_ = 0;
    std::atomic<bool> closing_{false};
    zdd_test::HttpTestServer http_;  // last: stopped before what its handlers use
};

}  // namespace

TEST_CASE("handoff: the URL sits below the report's") {
    CHECK(handoff_url_for("http://127.0.0.1:8080/health/deployment") ==
          "http://127.0.0.1:8080/health/deployment/handoff");
    CHECK(handoff_url_for("http://[::1]:8080/health/deployment/") ==
          "http://[::1]:8080/health/deployment/handoff");
    CHECK(handoff_url_for("http://h:1/health/deployment?x=1") ==
          "http://h:1/health/deployment/handoff?x=1");
}

TEST_CASE("handoff: 202 with the pending count, one POST, its connection recorded") {
    HandoffApp app;
    const std::string url = app.url("/health/deployment/handoff");
    HandoffResult r = request_handoff(url, kToken, 2s);
    INFO(r.reason);
    REQUIRE(r.outcome == HandoffOutcome::Accepted);
    CHECK(r.http_status == 202);
    CHECK(r.pending == 3);
    CHECK(app.posts() == 1);
    REQUIRE(r.connection);
    CHECK(r.connection->first.str() == "127.0.0.1:" + std::to_string(app.port()));
    CHECK(handoff_line(r, url) == "[INFO] handoff: " + url +
                                      " accepted, 3 streams to hand over at the next message "
                                      "boundary");
    // Accepted without a count: still accepted, the line says so.
    HandoffResult none = request_handoff(app.url("/none/handoff"), kToken, 2s);
    CHECK(none.outcome == HandoffOutcome::Accepted);
    CHECK(none.pending == -1);
    CHECK(handoff_line(none, "U").find("(uncounted) streams") != std::string::npos);
}

TEST_CASE("handoff: the token never goes to a proxy, whatever *_proxy say") {
    HandoffApp app;
    zdd_test::FakeProxy proxy;
    HandoffResult r = request_handoff(app.url("/health/deployment/handoff"), kToken, 2s);
    INFO(r.reason);
    CHECK(r.outcome == HandoffOutcome::Accepted);  // the app got the token (else 401)
    CHECK(app.posts() == 1);
    CHECK_FALSE(proxy.contacted());
}

TEST_CASE("handoff: anything but 202 is one warning line and the drain goes on") {
    HandoffApp app;
    // 404: an app without handoff.
    const std::string missing = app.url("/nothing/handoff");
    HandoffResult nf = request_handoff(missing, kToken, 2s);
    CHECK(nf.outcome == HandoffOutcome::NotSupported);
    CHECK(nf.http_status == 404);
    CHECK(handoff_line(nf, missing) ==
          "[WARN] handoff not supported (404) by " + missing + "; draining without it");

    HandoffResult unauth = request_handoff(app.url("/health/deployment/handoff"), "wrong", 2s);
    CHECK(unauth.outcome == HandoffOutcome::Unauthorized);
    CHECK(handoff_line(unauth, "U").find("401") != std::string::npos);

    HandoffResult down = request_handoff(app.url("/down/handoff"), kToken, 2s);
    CHECK(down.outcome == HandoffOutcome::Failed);
    CHECK(down.http_status == 503);
    CHECK(handoff_line(down, "U").find("answered HTTP 503); draining without it") !=
          std::string::npos);

    // No answer in time (the slow one answers only at the test's end), and nothing listening:
    // bounded, a line each.
    HandoffResult slow = request_handoff(app.url("/slow/handoff"), kToken, 300ms);
    CHECK(slow.outcome == HandoffOutcome::Failed);
    CHECK(slow.http_status == 0);
    CHECK(handoff_line(slow, "U").rfind("[WARN] handoff failed (", 0) == 0);
    HandoffResult refused = request_handoff(
        "http://127.0.0.1:" + std::to_string(zdd_test::free_port()) + "/h", kToken, 2s);
    CHECK(refused.outcome == HandoffOutcome::Failed);
    CHECK(handoff_line(refused, "U").find("draining without it") != std::string::npos);
}
