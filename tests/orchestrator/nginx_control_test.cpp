#include <httplib.h>

#include <catch2/catch.hpp>
#include <thread>

#include "nginx/nginx_control.hpp"
#include "nginx_fixture.hpp"
#include "test_support.hpp"

using namespace zdd;
using namespace std::chrono_literals;
using zdd_test::http_get;

namespace {

// A real backend answering every GET with its name.
class Backend {
  public:
    explicit Backend(std::string name) : name_(std::move(name)) {
        svr_.Get(".*", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(name_, "text/plain");
        });
        port_ = static_cast<uint16_t>(svr_.bind_to_any_port("127.0.0.1"));
        thread_ = std::thread([this] { svr_.listen_after_bind(); });
        zdd_test::wait_until([this] { return svr_.is_running(); }, 5s);
    }
    ~Backend() {
        svr_.stop();
        thread_.join();
    }
    uint16_t port() const { return port_; }

  private:
    std::string name_;
    httplib::Server svr_;
    uint16_t port_ = 0;
    std::thread thread_;
};

Upstream only(uint16_t port) {
    return Upstream{"vibe_backend", {{"127.0.0.1", port, 100, {}}}, 0, {}};
}

}  // namespace

TEST_CASE("nginx -t, pid discovery and a confirmed reload move traffic") {
    Backend blue("blue"), green("green");
    zdd_test::NginxFixture nx("vibe_backend", render_upstream(only(blue.port())));
    Nginx nginx(nx.options());
    CHECK(nginx.pid_file() == nx.pid_file());  // found through the conf's pid directive
    CHECK(nginx.master_pid() == nx.master());
    CHECK_NOTHROW(nginx.test());
    CHECK(http_get(nx.listen_port(), "/") == "blue");

    const auto before = nginx.worker_pids();
    REQUIRE_FALSE(before.empty());
    UpstreamFile file(nx.upstream_file());
    Upstream both{"vibe_backend",
                  {{"127.0.0.1", green.port(), 100, {}}, {"127.0.0.1", blue.port(), 1, {}}},
                  8,
                  {}};
    apply_upstream(nginx, file, both);
    CHECK(parse_upstream(*file.read(), "vibe_backend").servers.size() == 2);

    apply_upstream(nginx, file, only(green.port()));
    auto after = nginx.worker_pids();
    bool has_new = false;
    for (pid_t p : after)
        if (std::find(before.begin(), before.end(), p) == before.end()) has_new = true;
    CHECK(has_new);
    // The new workers route to green only.
    for (int i = 0; i < 5; ++i) CHECK(http_get(nx.listen_port(), "/") == "green");
}

TEST_CASE("a broken include fails nginx -t and the previous file is restored") {
    Backend blue("blue");
    zdd_test::NginxFixture nx("vibe_backend", render_upstream(only(blue.port())));
    Nginx nginx(nx.options());
    UpstreamFile file(nx.upstream_file());
    const std::string old_text = *file.read();
    const auto workers = nginx.worker_pids();

    Upstream broken = only(blue.port());
    broken.directives = {"include " + (nx.dir() / "missing-broken.conf").string()};
    try {
        apply_upstream(nginx, file, broken);
        FAIL("expected NginxError");
    } catch (const NginxError& e) {
        CHECK(e.kind == NginxError::Kind::test_failed);
        std::string m = e.what();
        CHECK_THAT(m, Catch::Contains("[emerg]"));
        CHECK_THAT(m, Catch::Contains("missing-broken.conf"));
        CHECK(m.find('\n') == std::string::npos);
    }
    CHECK(*file.read() == old_text);
    CHECK(nginx.worker_pids() == workers);  // no reload was attempted
    CHECK(http_get(nx.listen_port(), "/") == "blue");
}

TEST_CASE("a reload that does not take (listen on a busy port) is detected and restored") {
    Backend blue("blue"), green("green");
    zdd_test::NginxFixture nx("vibe_backend", render_upstream(only(blue.port())));
    NginxOptions o = nx.options();
    o.reload_timeout = 5s;  // the master retries a busy bind for ~2.5 s before giving up
    Nginx nginx(o);
    UpstreamFile file(nx.upstream_file());
    const std::string old_text = *file.read();
    const auto workers = nginx.worker_pids();

    // The test holds the port; the new config wants to listen on it too.
    auto busy = zdd_test::tcp_listen("127.0.0.1", 0);
    const uint16_t busy_port = zdd_test::local_port(busy.get());
    zdd_test::write_text(nx.extra_file(), "server { listen 127.0.0.1:" + std::to_string(busy_port) +
                                              "; return 204; }\n");
    CHECK_NOTHROW(nginx.test());  // -t does not bind: only the reload can tell
    try {
        apply_upstream(nginx, file, only(green.port()));
        FAIL("expected NginxError");
    } catch (const NginxError& e) {
        CHECK(e.kind == NginxError::Kind::reload_not_taken);
        CHECK_THAT(std::string(e.what()), Catch::Contains("did not take"));
    }
    CHECK(*file.read() == old_text);
    CHECK(nginx.worker_pids() == workers);
    CHECK(nginx.master_pid() == nx.master());
    CHECK(http_get(nx.listen_port(), "/") == "blue");  // still the old config
    CHECK_THAT(zdd_test::read_text(nx.dir() / "error.log"),
               Catch::Contains("Address already in use"));
}

TEST_CASE("no master behind the pid file is reported as not running") {
    zdd_test::require_root();
    zdd_test::TempDir d;
    NginxOptions o;
    o.pid_file = (d / "nginx.pid").string();
    Nginx nginx(o);
    try {
        nginx.reload();
        FAIL("expected NginxError");
    } catch (const NginxError& e) {
        CHECK(e.kind == NginxError::Kind::not_running);
    }
    zdd_test::write_text(d / "nginx.pid", "999999999\n");
    CHECK_THROWS_AS(nginx.master_pid(), NginxError);
}
