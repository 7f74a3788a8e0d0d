// The app-report client against a real HTTP server (cpp-httplib in this process) serving
// canned answers, and the token file reader on real files.
#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "gate/app_report.hpp"
#include "fake_proxy.hpp"
#include "http_test_server.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace drainmon;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kToken = "s3cr3t-token";

// A canned /health/deployment app on a free loopback port, served from a thread.
class CannedApp {
  public:
    CannedApp() {
        auto& svr = http_.server();
        auto authorized = [](const httplib::Request& req, httplib::Response& res) {
            if (req.get_header_value("Authorization") == std::string("Bearer ") + kToken)
                return true;
            res.status = 401;
            res.set_content(R"({"error":"unauthorized"})", "application/json");
            return false;
        };
        svr.Get("/ok", [this, authorized](const httplib::Request& req, httplib::Response& res) {
            {
                std::lock_guard lock(mu_);
                client_ports_.push_back(req.remote_port);
            }
            if (!authorized(req, res)) return;
            res.set_content(R"({"status":"ok","version":"1.2.3","activeStreams":2,)"
                            R"("activeRequests":1,"deploymentColor":"blue","port":8080,)"
                            R"("uptimeSeconds":12.5,"readyForShutdown":false})",
                            "application/json");
        });
        svr.Get("/down", [](const httplib::Request&, httplib::Response& res) {
            res.status = 503;
            res.set_content("no token configured", "text/plain");
        });
        svr.Get("/malformed", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(R"({"activeStreams": 1, "activeRequ)", "application/json");
        });
        svr.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(R"({"status":"ok","activeStreams":0})", "application/json");
        });
        svr.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
            std::this_thread::sleep_for(1500ms);
            res.set_content(R"({"activeStreams":0,"activeRequests":0})", "application/json");
        });
        http_.start();
    }
    std::string url(const std::string& path) const { return http_.url(path); }
    int port() const { return http_.port(); }
    std::vector<int> client_ports() {
        std::lock_guard lock(mu_);
        return client_ports_;
    }

  private:
    std::mutex mu_;
    std::vector<int> client_ports_;
    zdd_test::HttpTestServer http_;  // last: stopped before what its handlers use
};

}  // namespace

TEST_CASE("app report: a 200 answer is parsed and the poll's 4-tuple recorded") {
    CannedApp app;
    AppReportClient client(app.url("/ok"), kToken, 2s);
    AppPoll p = client.poll();
    INFO(p.reason);
    REQUIRE(p.outcome == AppOutcome::Report);
    CHECK(p.http_status == 200);
    CHECK(p.report.active_streams == 2);
    CHECK(p.report.active_requests == 1);
    CHECK_FALSE(p.report.ready_for_shutdown);
    CHECK(p.report.deployment_color == "blue");
    CHECK(p.report.version == "1.2.3");
    CHECK(p.report.port == 8080);
    REQUIRE(p.connection);
    // {server endpoint (the app's ip:port), client endpoint}: what Backend::snapshot excludes.
    CHECK(p.connection->first.str() == "127.0.0.1:" + std::to_string(app.port()));
    REQUIRE(app.client_ports().size() == 1);
    CHECK(p.connection->second.ip == "127.0.0.1");
    CHECK(p.connection->second.port == app.client_ports()[0]);
}

TEST_CASE("app report: every poll is a fresh connection, closed after the answer") {
    CannedApp app;
    AppReportClient client(app.url("/ok"), kToken, 2s);
    AppPoll a = client.poll();
    AppPoll b = client.poll();
    REQUIRE(a.outcome == AppOutcome::Report);
    REQUIRE(b.outcome == AppOutcome::Report);
    auto ports = app.client_ports();
    REQUIRE(ports.size() == 2);
    CHECK(ports[0] != ports[1]);
    // The client closed first, so its end waits in TIME_WAIT: nothing left ESTABLISHED.
    for (int port : ports) {
        std::string filter = "'( sport = :" + std::to_string(port) + " )'";
        CHECK(zdd_test::wait_until(
            [&] {
                return zdd_test::run_capture("ss -Htn state established " + filter).empty() &&
                       !zdd_test::run_capture("ss -Htn state time-wait " + filter).empty();
            },
            2s));
    }
}

TEST_CASE("app report: the token never goes to a proxy, whatever *_proxy say") {
    CannedApp app;
    zdd_test::FakeProxy proxy;
    AppPoll p = AppReportClient(app.url("/ok"), kToken, 2s).poll();
    INFO(p.reason);
    CHECK(p.outcome == AppOutcome::Report);  // the app got the token (else 401)
    CHECK(app.client_ports().size() == 1);
    CHECK_FALSE(proxy.contacted());
}

TEST_CASE("app report: a wrong token is a 401, a configuration error") {
    CannedApp app;
    AppPoll p = AppReportClient(app.url("/ok"), "wrong", 2s).poll();
    CHECK(p.outcome == AppOutcome::Unauthorized);
    CHECK(p.http_status == 401);
    CHECK(p.reason.find("401") != std::string::npos);
}

TEST_CASE("app report: 5xx, malformed, incomplete, slow and refused are no report") {
    CannedApp app;
    struct Case {
        std::string url;
        const char* reason_has;
    };
    const std::vector<Case> cases = {
        {app.url("/down"), "HTTP 503"},
        {app.url("/malformed"), "not JSON"},
        {app.url("/missing"), "activeRequests"},
        {app.url("/slow"), "timed out"},
        {"http://127.0.0.1:" + std::to_string(zdd_test::free_port()) + "/health/deployment",
         "onnect"},
    };
    for (const auto& c : cases) {
        AppPoll p = AppReportClient(c.url, kToken, 300ms).poll();
        INFO(c.url << " -> " << p.reason);
        CHECK(p.outcome == AppOutcome::NoReport);
        CHECK(p.reason.find(c.reason_has) != std::string::npos);
        CHECK(p.reason.find('\n') == std::string::npos);
    }
}

TEST_CASE("token file: env line, export prefix, quotes or a bare token") {
    zdd_test::TempDir dir;
    CHECK(read_token_file(dir.write("a.env", "VIBE_DEPLOYMENT_TOKEN=abc123\n")) == "abc123");
    CHECK(read_token_file(dir.write("b.env",
                                    "# deploy secrets\nPORT=8080\n"
                                    "export VIBE_DEPLOYMENT_TOKEN=\"with space\"\n")) ==
          "with space");
    CHECK(read_token_file(dir.write("c.env", "VIBE_DEPLOYMENT_TOKEN='quoted'\n")) == "quoted");
    CHECK(read_token_file(dir.write("token", "  bare-token==\n")) == "bare-token==");
}

TEST_CASE("token file: refused when another user owns it, even with mode 0600") {
    zdd_test::require_root();
    zdd_test::TempDir dir;
    auto p = dir.write("theirs.env", "VIBE_DEPLOYMENT_TOKEN=abc\n",
                       fs::perms::owner_read | fs::perms::owner_write);
    REQUIRE(::chown(p.c_str(), 65534, 65534) == 0);
    CHECK_THROWS_WITH(read_token_file(p),
                      Catch::Contains("owned by uid 65534") && Catch::Contains("chown root"));
    // 0400 and 0600 are both fine when root's; group write alone is not.
    REQUIRE(::chown(p.c_str(), 0, 0) == 0);
    fs::permissions(p, fs::perms::owner_read);
    CHECK(read_token_file(p) == "abc");
    fs::permissions(p, fs::perms::owner_read | fs::perms::group_write);
    CHECK_THROWS_WITH(read_token_file(p), Catch::Contains("chmod 600"));
}

TEST_CASE("token file: refused when readable by others, empty, missing or unrelated") {
    zdd_test::TempDir dir;
    auto p644 = dir.write("open.env", "VIBE_DEPLOYMENT_TOKEN=abc\n",
                          fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
    CHECK_THROWS_WITH(read_token_file(p644), Catch::Contains("readable by group or others") &&
                                                 Catch::Contains("chmod 600"));
    auto p640 = dir.write("group.env", "VIBE_DEPLOYMENT_TOKEN=abc\n",
                          fs::perms::owner_read | fs::perms::group_read);
    CHECK_THROWS_AS(read_token_file(p640), TokenFileError);
    CHECK_THROWS_WITH(read_token_file(dir.write("empty", "")), Catch::Contains("empty"));
    CHECK_THROWS_WITH(read_token_file(dir.write("blank.env", "VIBE_DEPLOYMENT_TOKEN=\n")),
                      Catch::Contains("empty"));
    CHECK_THROWS_WITH(read_token_file(dir.write("other.env", "PORT=8080\nCOLOR=blue\n")),
                      Catch::Contains("no VIBE_DEPLOYMENT_TOKEN"));
    CHECK_THROWS_WITH(read_token_file(dir.file("absent")), Catch::Contains("cannot read"));
}

TEST_CASE("app report body: parse errors say what is wrong") {
    CHECK(parse_app_report(R"({"activeStreams":0,"activeRequests":0})").active_streams == 0);
    CHECK_THROWS_WITH(parse_app_report("[]"), Catch::Contains("not a JSON object"));
    CHECK_THROWS_WITH(parse_app_report(R"({"activeStreams":"1","activeRequests":0})"),
                      Catch::Contains("not an integer"));
    CHECK_THROWS_WITH(parse_app_report(R"({"activeStreams":-1,"activeRequests":0})"),
                      Catch::Contains("negative"));
}

TEST_CASE("app report body: the handoff counts are optional, -1 when absent") {
    AppReport plain = parse_app_report(R"({"activeStreams":2,"activeRequests":0})");
    CHECK(plain.handoff_pending == -1);
    CHECK(plain.handed_off == -1);
    AppReport r = parse_app_report(
        R"({"activeStreams":2,"activeRequests":0,"handoffPending":2,"handedOff":198})");
    CHECK(r.handoff_pending == 2);
    CHECK(r.handed_off == 198);
    CHECK(
        parse_app_report(R"({"activeStreams":0,"activeRequests":0,"handedOff":null})").handed_off ==
        -1);
    CHECK_THROWS_WITH(parse_app_report(R"({"activeStreams":0,"activeRequests":0,"handedOff":-1})"),
                      Catch::Contains("\"handedOff\" is negative"));
    CHECK_THROWS_WITH(
        parse_app_report(R"({"activeStreams":0,"activeRequests":0,"handoffPending":"3"})"),
        Catch::Contains("wrong type"));
}
