// zdd-demo-sse-resume: complete through handoffs against the real app, and the failures it
// must catch (gap, duplicate, cut, HTTP error, deadline) against a canned SSE server.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "demo_app_process.hpp"

using namespace std::chrono_literals;
using zdd_demo_test::DemoApp;

namespace {

struct RunResult {
    int exit = -1;
    nlohmann::json summary;
};

RunResult run_client(const std::vector<std::string>& args, std::chrono::milliseconds bound) {
    const auto out = zdd_demo_test::temp_path("resume-out");
    std::vector<std::string> argv = {zdd_demo_test::sse_resume_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    zdd_test::Subprocess p(argv, {}, out);
    RunResult r;
    r.exit = p.wait(bound);
    const std::string text = zdd_demo_test::read_file(out);
    INFO(text);
    r.summary = nlohmann::json::parse(text, nullptr, false);
    return r;
}

// Serves canned raw HTTP answers, one per connection in order, then closes each; records
// every request head.
class CannedServer {
  public:
    explicit CannedServer(std::vector<std::string> answers)
        : fd_(zdd_test::tcp_listen("127.0.0.1", 0)), answers_(std::move(answers)) {
        thread_ = std::thread([this] { run(); });
    }
    ~CannedServer() {
        ::shutdown(fd_.get(), SHUT_RDWR);
        thread_.join();
    }
    std::string url() const {
        return "http://127.0.0.1:" + std::to_string(zdd_test::local_port(fd_.get())) + "/s";
    }
    std::vector<std::string> heads() {
        std::lock_guard lock(mu_);
        return heads_;
    }

  private:
    void run() {
        for (const auto& answer : answers_) {
            auto c = zdd_test::tcp_accept(fd_.get());
            if (!c) return;
            std::string head;
            char buf[1024];
            while (head.find("\r\n\r\n") == std::string::npos) {
                const ssize_t n = ::read(c.get(), buf, sizeof buf);
                if (n <= 0) break;
                head.append(buf, static_cast<size_t>(n));
            }
            {
                std::lock_guard lock(mu_);
                heads_.push_back(head);
            }
            (void)!::write(c.get(), answer.data(), answer.size());
        }
    }

    zdd_test::UniqueFd fd_;
    std::vector<std::string> answers_;
    std::mutex mu_;
    std::vector<std::string> heads_;
    std::thread thread_;
};

std::string sse_answer(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + body;
}
std::string ev(int id) {
    return "id: " + std::to_string(id) + "\ndata: {}\n\n";
}
const std::string kHandoff = "retry: 50\nevent: handoff\ndata: {}\n\n";
const std::string kDone = "event: done\ndata: {\"total\":3}\n\n";

}  // namespace

TEST_CASE("sse_resume: every client completes across handoffs of the real app", "[resume]") {
    DemoApp app;
    const auto ready = zdd_demo_test::temp_path("ready");
    const auto out = zdd_demo_test::temp_path("resume-out");
    zdd_test::Subprocess client(
        {zdd_demo_test::sse_resume_binary(), "--url",
         app.url("/stream/test?duration=2&interval_ms=100"), "--clients", "20", "--deadline-s",
         "60", "--expect-total", "20", "--fail-on-cut", "--ready-file", ready},
        {}, out);
    REQUIRE(zdd_test::wait_until([&] { return !zdd_demo_test::read_file(ready).empty(); }, 10s));
    auto r = app.handoff();
    REQUIRE(r.status == 202);
    CHECK(client.wait(60s) == 0);
    const std::string text = zdd_demo_test::read_file(out);
    INFO(text);
    auto s = nlohmann::json::parse(text);
    CHECK(s.at("clients") == 20);
    CHECK(s.at("complete") == 20);
    CHECK(s.at("duplicates") == 0);
    CHECK(s.at("gaps") == 0);
    CHECK(s.at("cuts") == 0);
    CHECK(s.at("events") == 20 * 20);
    // Each client was handed over at least once (streams reopened on this leaving instance are
    // handed over again), and reconnected as often.
    CHECK(s.at("handoffs") >= 20);
    CHECK(s.at("reconnects") == s.at("handoffs"));
    CHECK(app.deployment().at("handedOff") == s.at("handoffs"));
}

TEST_CASE("sse_resume: resumes with Last-Event-ID and honours retry", "[resume]") {
    CannedServer srv({sse_answer(ev(1) + kHandoff), sse_answer(ev(2) + ev(3) + kDone)});
    auto r = run_client({"--url", srv.url(), "--clients", "1", "--deadline-s", "20",
                         "--default-retry-ms", "60000", "--fail-on-cut"},
                        30s);
    CHECK(r.exit == 0);
    CHECK(r.summary.at("complete") == 1);
    CHECK(r.summary.at("handoffs") == 1);
    CHECK(r.summary.at("reconnects") == 1);
    auto heads = srv.heads();
    REQUIRE(heads.size() == 2);
    CHECK(heads[0].find("Last-Event-ID") == std::string::npos);
    CHECK(heads[1].find("Last-Event-ID: 1\r\n") != std::string::npos);
    CHECK(heads[1].find("Accept: text/event-stream") != std::string::npos);
}

TEST_CASE("sse_resume: gaps, duplicates, cuts and HTTP errors fail the run", "[resume]") {
    const std::vector<std::string> base = {"--clients",          "1", "--deadline-s", "20",
                                           "--default-retry-ms", "50"};
    auto with = [&](const std::string& url, std::vector<std::string> more = {}) {
        std::vector<std::string> a = {"--url", url};
        a.insert(a.end(), base.begin(), base.end());
        a.insert(a.end(), more.begin(), more.end());
        return run_client(a, 30s);
    };
    {
        CannedServer srv({sse_answer(ev(1) + ev(3) + kDone)});
        auto r = with(srv.url());
        CHECK(r.exit == 1);
        CHECK(r.summary.at("gaps") == 1);
        CHECK(r.summary.at("complete") == 0);
    }
    {
        CannedServer srv({sse_answer(ev(1) + ev(2) + kHandoff), sse_answer(ev(2) + ev(3) + kDone)});
        auto r = with(srv.url());
        CHECK(r.exit == 1);
        CHECK(r.summary.at("duplicates") == 1);
    }
    {
        // Cut mid-stream (no goodbye), then resumed: complete, but a cut.
        CannedServer srv({sse_answer(ev(1) + "id: 2\nda"), sse_answer(ev(2) + ev(3) + kDone)});
        auto r = with(srv.url());
        CHECK(r.exit == 0);
        CHECK(r.summary.at("complete") == 1);
        CHECK(r.summary.at("cuts") == 1);
    }
    {
        CannedServer srv({sse_answer(ev(1)), sse_answer(ev(2) + ev(3) + kDone)});
        auto r = with(srv.url(), {"--fail-on-cut"});
        CHECK(r.exit == 1);
        CHECK(r.summary.at("cuts") == 1);
    }
    {
        CannedServer srv({"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"});
        auto r = with(srv.url());
        CHECK(r.exit == 1);
        CHECK(r.summary.at("http_errors") == 1);
    }
    {
        // Never done: the deadline ends it.
        CannedServer srv({sse_answer(ev(1))});
        auto r = run_client({"--url", srv.url(), "--clients", "1", "--deadline-s", "1",
                             "--default-retry-ms", "100"},
                            30s);
        CHECK(r.exit == 1);
        CHECK(r.summary.at("complete") == 0);
    }
}
