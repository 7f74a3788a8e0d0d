#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "nginx/nginx_control.hpp"
#include "http_test_server.hpp"
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
        http_.server().Get(".*", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(name_, "text/plain");
        });
        http_.start();
    }
    uint16_t port() const { return http_.port(); }

  private:
    std::string name_;
    zdd_test::HttpTestServer http_;  // last: stopped before what its handler uses
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

namespace {

// /proc/PID/syscall: the syscall the task is blocked in (nginx reading its config: open).
bool blocked_in_open(pid_t pid) {
    const std::string s = zdd_test::read_text("/proc/" + std::to_string(pid) + "/syscall");
    long nr = std::strtol(s.c_str(), nullptr, 10);
#ifdef SYS_open
    if (nr == SYS_open) return true;
#endif
    return !s.empty() && std::isdigit(static_cast<unsigned char>(s[0])) && nr == SYS_openat;
}

// A config include that holds whoever reads it: a FIFO with no writer blocks open() until
// release(), which opens it for writing (an empty file to the reader) through a second name.
class StallingInclude {
  public:
    StallingInclude(const std::filesystem::path& include, const std::filesystem::path& handle)
        : handle_(handle) {
        REQUIRE(::mkfifo(handle.c_str(), 0644) == 0);
        const auto tmp = include.string() + ".swap";
        REQUIRE(::link(handle.c_str(), tmp.c_str()) == 0);
        std::filesystem::rename(tmp, include);
    }
    ~StallingInclude() { release(); }
    // Lets a reader blocked in open() go on; true if one was there.
    bool release() {
        int fd = ::open(handle_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return false;  // ENXIO: no reader waiting
        ::close(fd);
        return true;
    }

  private:
    std::filesystem::path handle_;
};

}  // namespace

TEST_CASE("a reload someone else started is not taken for ours") {
    Backend blue("blue"), green("green");
    zdd_test::NginxFixture nx("vibe_backend", render_upstream(only(blue.port())));
    NginxOptions o = nx.options();
    o.reload_timeout = 30s;
    Nginx nginx(o);
    UpstreamFile file(nx.upstream_file());
    const pid_t master = nx.master();
    const std::string plain_extra = zdd_test::read_text(nx.extra_file());

    // Someone else's reload, stalled in the middle of reading the config: it has read
    // upstream.conf (blue) and waits on extra.conf, included after it.
    StallingInclude theirs(nx.extra_file(), nx.dir() / "stall-theirs");
    REQUIRE(::kill(master, SIGHUP) == 0);
    REQUIRE(zdd_test::wait_until([&] { return blocked_in_open(master); }, 30s, 5ms));

    // Our change; the config reads after it stall as well, until the test lets them go.
    file.write(only(green.port()));
    StallingInclude ours(nx.extra_file(), nx.dir() / "stall-ours");
    std::atomic<bool> returned{false}, master_released{false};
    bool released_before_return = false;
    std::string error;
    std::thread reloader([&] {
        try {
            nginx.reload();
        } catch (const std::exception& e) {
            error = e.what();
        }
        released_before_return = master_released;
        returned = true;
    });
    // A head start, so that a reload() that snapshots the workers at once does so before
    // theirs appear. Only a broken reload() needs it to show: a right one passes either way.
    std::this_thread::sleep_for(500ms);
    // Their reload goes on: their workers start now, with blue. reload() must not take them for
    // its own: it may only return after the config read our reload causes has gone through.
    REQUIRE(theirs.release());

    // `nginx -s reload` reads the config too (for the pid file): it stalls on ours first, and
    // is let go at once (the master cannot be reading ours yet: it has no SIGHUP from us before
    // that). The master's own read of ours is held a while, then let go.
    bool signaller_released = false;
    const auto hold_until = std::chrono::steady_clock::now() + 3s;
    REQUIRE(zdd_test::wait_until(
        [&] {
            if (returned) return true;
            if (blocked_in_open(master)) {
                if (std::chrono::steady_clock::now() < hold_until) return false;
                // Later reads find a plain file again (renamed over the FIFO's name).
                zdd_test::write_text(nx.dir() / "extra.plain", plain_extra);
                std::filesystem::rename(nx.dir() / "extra.plain", nx.extra_file());
                master_released = true;
                ours.release();
                return true;
            }
            if (!signaller_released) signaller_released = ours.release();
            return false;
        },
        60s, 5ms));
    reloader.join();
    if (!master_released) {  // reload() returned too early: let the master's read go too
        zdd_test::write_text(nx.dir() / "extra.plain", plain_extra);
        std::filesystem::rename(nx.dir() / "extra.plain", nx.extra_file());
        zdd_test::wait_until([&] { return blocked_in_open(master) && ours.release(); }, 10s);
    }
    INFO("reload error: " << error);
    CHECK(error.empty());
    CHECK(released_before_return);
    for (int i = 0; i < 5; ++i) CHECK(http_get(nx.listen_port(), "/") == "green");
}
