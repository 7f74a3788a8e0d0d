#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <thread>

#include "runner/health_check.hpp"
#include "fake_proxy.hpp"
#include "http_test_server.hpp"
#include "test_support.hpp"

using namespace zdd;
using namespace std::chrono_literals;

namespace {

// A real HTTP server on a free loopback port answering /health with what the test decides.
class HealthServer {
  public:
    using Answer = std::function<std::pair<int, std::string>()>;
    explicit HealthServer(Answer a) : answer_(std::move(a)) {
        http_.server().Get("/health", [this](const httplib::Request&, httplib::Response& res) {
            ++hits;
            auto [code, body] = answer_();
            res.status = code;
            res.set_content(body, "application/json");
        });
        http_.start();
    }
    uint16_t port() const { return http_.port(); }
    std::atomic<int> hits{0};

  private:
    Answer answer_;
    zdd_test::HttpTestServer http_;  // last: stopped before what its handler uses
};

HealthOptions opts(uint16_t port, std::chrono::milliseconds timeout = 10s) {
    HealthOptions o;
    o.port = port;
    o.timeout = timeout;
    o.interval = 20ms;
    o.request_timeout = 1s;
    return o;
}

}  // namespace

TEST_CASE("a healthy instance is accepted, with its version") {
    HealthServer s([] {
        return std::pair{200, std::string(R"({"status":"ok","version":"1.2.3"})")};
    });
    auto p = probe_health("127.0.0.1", s.port(), "", 1s);
    CHECK(p.ok);
    CHECK(p.version == "1.2.3");
    auto r = wait_healthy(opts(s.port()));
    CHECK(r.ok);
    CHECK(r.version == "1.2.3");
    CHECK(r.attempts == 1);
    auto o = opts(s.port());
    o.expect_version = "1.2.3";
    CHECK(wait_healthy(o).ok);
}

TEST_CASE("the health check never goes through a proxy") {
    HealthServer s([] { return std::pair{200, std::string(R"({"status":"ok"})")}; });
    zdd_test::FakeProxy proxy;
    CHECK(probe_health("127.0.0.1", s.port(), "", 1s).ok);
    CHECK(s.hits == 1);
    CHECK_FALSE(proxy.contacted());
}

TEST_CASE("an instance that becomes healthy after a while") {
    std::atomic<int> n{0};
    HealthServer s([&] {
        return ++n < 4 ? std::pair{503, std::string(R"({"status":"starting"})")}
                       : std::pair{200, std::string(R"({"status":"ok","version":"2"})")};
    });
    auto r = wait_healthy(opts(s.port()));
    CHECK(r.ok);
    CHECK(r.attempts == 4);
}

TEST_CASE("failures report the last reason in one line") {
    SECTION("HTTP status") {
        HealthServer s([] { return std::pair{503, std::string("{}")}; });
        auto r = wait_healthy(opts(s.port(), 300ms));
        CHECK_FALSE(r.ok);
        CHECK_THAT(r.last_failure, Catch::StartsWith("health check failed after"));
        CHECK_THAT(r.last_failure, Catch::EndsWith("HTTP 503"));
        CHECK(r.attempts >= 1);
    }
    SECTION("status not ok") {
        HealthServer s([] { return std::pair{200, std::string(R"({"status":"degraded"})")}; });
        auto r = wait_healthy(opts(s.port(), 200ms));
        CHECK_THAT(r.last_failure, Catch::Contains("status is not \"ok\""));
    }
    SECTION("wrong version") {
        HealthServer s([] {
            return std::pair{200, std::string(R"({"status":"ok","version":"1"})")};
        });
        auto o = opts(s.port(), 200ms);
        o.expect_version = "2";
        auto r = wait_healthy(o);
        CHECK_FALSE(r.ok);
        CHECK_THAT(r.last_failure, Catch::Contains("version is \"1\", expected \"2\""));
    }
    SECTION("not JSON") {
        HealthServer s([] { return std::pair{200, std::string("OK\nfine")}; });
        auto r = wait_healthy(opts(s.port(), 200ms));
        CHECK_THAT(r.last_failure, Catch::Contains("not a JSON object"));
        CHECK(r.last_failure.find('\n') == std::string::npos);
    }
    SECTION("nothing listening") {
        const uint16_t port = zdd_test::free_port();
        auto r = wait_healthy(opts(port, 200ms));
        CHECK_FALSE(r.ok);
        CHECK_THAT(r.last_failure, Catch::Contains("onnect"));  // "Couldn't connect", "refused"
    }
}

TEST_CASE("an instance that exits stops the wait at once") {
    zdd_test::Subprocess app({"/bin/sh", "-c", "sleep 0.3; exit 1"});
    const uint16_t port = zdd_test::free_port();  // it never listens
    auto o = opts(port, 60s);
    o.still_running = [&] { return app.running(); };
    auto r = wait_healthy(o);
    CHECK_FALSE(r.ok);
    CHECK(r.process_exited);
    CHECK_THAT(r.last_failure, Catch::StartsWith("the instance exited during the health check"));
}
