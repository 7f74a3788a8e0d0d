// zdd doctor on real `nginx -T` output: temp configs in a temp prefix (no server runs for -T),
// one case per finding, a clean config with none, and the host checks (BPF, token file).
#include "flow/doctor.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "temp_dir.hpp"
#include "state/token.hpp"
#include "test_support.hpp"

using namespace zdd;
using zdd_test::TempDir;
using zdd_test::write_text;

namespace {

// A complete nginx setup in a temp prefix; every part is a field a case can change.
struct Setup {
    TempDir dir{"zdd-doctor"};
    std::string main_extra;  // top-level directives
    std::string http_extra;  // http-level directives
    std::string server_extra;
    std::string map = "map $http_upgrade $connection_upgrade { default upgrade; '' \"\"; }";
    std::string upstream = "upstream vibe_backend { server 127.0.0.1:8080; keepalive 8; }";
    std::string include_line;  // default: include DIR/upstream.conf
    std::string location =
        "proxy_pass http://vibe_backend;\n"
        "      proxy_http_version 1.1;\n"
        "      proxy_buffering off;\n"
        "      proxy_read_timeout 1h;\n"
        "      proxy_set_header Host $host;\n"
        "      proxy_set_header Upgrade $http_upgrade;\n"
        "      proxy_set_header Connection $connection_upgrade;";
    std::string other_locations;  // extra location blocks in the server
    Config cfg;

    Setup() {
        cfg.nginx_prefix = dir.path().string();
        cfg.nginx_conf = (dir / "nginx.conf").string();
        cfg.upstream_file = (dir / "upstream.conf").string();
        cfg.token_file = (dir / "deployment.env").string();
        write_text(dir / "deployment.env", "VIBE_DEPLOYMENT_TOKEN=secret\n", 0600);
    }

    // Writes the files and runs the doctor; returns its exit code, output in `out`.
    int run(std::string& out) {
        const std::string d = dir.path().string();
        write_text(dir / "upstream.conf", upstream + "\n");
        write_text(dir / "nginx.conf",
                   "worker_processes 1;\n"
                   "pid " +
                       d +
                       "/nginx.pid;\n"
                       "error_log " +
                       d + "/error.log;\n" + main_extra +
                       "\nevents { worker_connections 64; }\n"
                       "http {\n"
                       "  access_log off;\n"
                       "  " +
                       (include_line.empty() ? "include " + d + "/upstream.conf;" : include_line) +
                       "\n  " + map + "\n  " + http_extra +
                       "\n  server {\n"
                       "    listen 127.0.0.1:18999;\n"
                       "    " +
                       server_extra + "\n    location / {\n      " + location + "\n    }\n    " +
                       other_locations +
                       "\n  }\n"
                       "}\n");
        std::ostringstream o;
        int rc = run_doctor(cfg, o);
        out = o.str();
        INFO(out);
        return rc;
    }
};

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

// Exactly one [FIX] line, and it says `what`.
void require_single_fix(Setup& s, const std::string& what) {
    std::string out;
    int rc = s.run(out);
    INFO(out);
    CHECK(rc == 1);
    CHECK(count(out, "[FIX]") == 1);
    CHECK(out.find(what) != std::string::npos);
    CHECK(out.find("1 finding to fix") != std::string::npos);
}

void require_clean(Setup& s) {
    std::string out;
    int rc = s.run(out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(count(out, "[FIX]") == 0);
    CHECK(out.find("nothing found that would hurt") != std::string::npos);
}

}  // namespace

TEST_CASE("a clean setup has no finding") {
    zdd_test::require_root();  // the BPF check needs root to load
    Setup s;
    std::string out;
    REQUIRE(s.run(out) == 0);
    CHECK(count(out, "[FIX]") == 0);
    // Unset worker_shutdown_timeout is right for long streams: said, not flagged.
    CHECK(out.find("[NOTE] worker_shutdown_timeout is not set") != std::string::npos);
    CHECK(out.find("2 nginx config files checked") != std::string::npos);
}

TEST_CASE("worker_shutdown_timeout against the drain timeout") {
    zdd_test::require_root();
    Setup s;
    SECTION("shorter than the drain timeout") {
        s.main_extra = "worker_shutdown_timeout 30s;";
        require_single_fix(s,
                           "nginx.conf:4: worker_shutdown_timeout 30s is shorter than the "
                           "drain timeout (120s)");
    }
    SECTION("set while the drain waits forever") {
        s.main_extra = "worker_shutdown_timeout 1h;";
        s.cfg.drain_timeout = 0;
        require_single_fix(s, "worker_shutdown_timeout 1h is set but the drain timeout is 0");
    }
    SECTION("longer than the drain timeout is fine") {
        s.main_extra = "worker_shutdown_timeout 10m;";
        require_clean(s);
    }
}

TEST_CASE("proxy_buffering on a location proxying the upstream") {
    zdd_test::require_root();
    Setup s;
    SECTION("unset: nginx's default is on") {
        s.location.replace(s.location.find("proxy_buffering off;"), 20, "");
        require_single_fix(s, "location /: proxy_buffering is on (nginx's default)");
    }
    SECTION("explicitly on in an included snippet") {
        write_text(s.dir / "stream.conf", "proxy_buffering on;\n");
        s.location.replace(s.location.find("proxy_buffering off;"), 20,
                           "include " + (s.dir / "stream.conf").string() + ";");
        require_single_fix(s, "stream.conf:1: location /: proxy_buffering is on:");
    }
    SECTION("off at server level is inherited") {
        s.location.replace(s.location.find("proxy_buffering off;"), 20, "");
        s.server_extra = "proxy_buffering off;";
        require_clean(s);
    }
}

TEST_CASE("gzip compressing event streams") {
    zdd_test::require_root();
    Setup s;
    SECTION("gzip on with text/event-stream in gzip_types") {
        s.http_extra = "gzip on; gzip_types text/plain text/event-stream;";
        require_single_fix(s, "gzip is on");
    }
    SECTION("gzip on with the default types leaves streams alone") {
        s.http_extra = "gzip on;";
        require_clean(s);
    }
    SECTION("gzip off in the location wins over http") {
        s.http_extra = "gzip on; gzip_types *;";
        s.location += "\n gzip off;";
        require_clean(s);
    }
}

TEST_CASE("proxy_read_timeout against the streams' quiet gaps") {
    zdd_test::require_root();
    Setup s;
    SECTION("shorter than twice stuck_after") {
        s.location.replace(s.location.find("proxy_read_timeout 1h;"), 22,
                           "proxy_read_timeout 45s;");
        require_single_fix(s, "proxy_read_timeout 45s is shorter than twice --stuck-after (60s)");
    }
    SECTION("unset: the 60s default is only a note at the default stuck_after") {
        s.location.replace(s.location.find("proxy_read_timeout 1h;"), 22, "");
        std::string out;
        CHECK(s.run(out) == 0);
        CHECK(out.find("[NOTE] ") != std::string::npos);
        CHECK(out.find("proxy_read_timeout is not set: nginx's default 60s") != std::string::npos);
    }
    SECTION("unset with a larger stuck_after is a finding") {
        s.location.replace(s.location.find("proxy_read_timeout 1h;"), 22, "");
        s.cfg.stuck_after = 45;
        require_single_fix(s, "proxy_read_timeout is not set, so nginx's default 60s applies");
    }
}

TEST_CASE("proxy_http_version 1.1 missing") {
    zdd_test::require_root();
    Setup s;
    s.location.replace(s.location.find("proxy_http_version 1.1;"), 23, "");
    require_single_fix(s, "proxy_http_version is 1.0 (nginx's default)");
}

TEST_CASE("upstream keepalive without Connection \"\"") {
    zdd_test::require_root();
    Setup s;
    SECTION("the map turns plain requests into Connection: close") {
        s.map = "map $http_upgrade $connection_upgrade { default upgrade; '' close; }";
        require_single_fix(s, "uses keepalive but this location sends `Connection: close`");
    }
    SECTION("a literal Connection upgrade") {
        s.location.replace(s.location.find("$connection_upgrade"), 19, "upgrade");
        require_single_fix(s, "sends `Connection: upgrade` on plain requests");
    }
    SECTION("--upstream-keepalive counts even before zdd wrote the file") {
        s.upstream = "upstream vibe_backend { server 127.0.0.1:8080; }";
        s.map = "map $http_upgrade $connection_upgrade { default upgrade; '' close; }";
        s.cfg.upstream_keepalive = 16;
        require_single_fix(s, "uses keepalive");
    }
    SECTION("no keepalive: Connection close is harmless") {
        s.upstream = "upstream vibe_backend { server 127.0.0.1:8080; }";
        s.map = "map $http_upgrade $connection_upgrade { default upgrade; '' close; }";
        require_clean(s);
    }
}

TEST_CASE("missing WebSocket upgrade headers") {
    zdd_test::require_root();
    Setup s;
    s.upstream = "upstream vibe_backend { server 127.0.0.1:8080; }";
    SECTION("no Upgrade and no Connection") {
        s.location =
            "proxy_pass http://vibe_backend; proxy_http_version 1.1; "
            "proxy_buffering off; proxy_read_timeout 1h;";
        require_single_fix(s, "missing WebSocket upgrade headers");
        std::string out;
        s.run(out);
        CHECK(out.find("`proxy_set_header Upgrade $http_upgrade;` and `proxy_set_header "
                       "Connection $connection_upgrade;`") != std::string::npos);
    }
    SECTION("headers at server level are lost when the location sets its own") {
        // nginx inherits proxy_set_header only when the inner level sets none.
        s.server_extra =
            "proxy_set_header Upgrade $http_upgrade; "
            "proxy_set_header Connection $connection_upgrade;";
        s.location =
            "proxy_pass http://vibe_backend; proxy_http_version 1.1; "
            "proxy_buffering off; proxy_read_timeout 1h; "
            "proxy_set_header X-Real-IP $remote_addr;";
        require_single_fix(s, "missing WebSocket upgrade headers");
    }
    SECTION("headers at server level are inherited when the location sets none") {
        s.server_extra =
            "proxy_set_header Upgrade $http_upgrade; "
            "proxy_set_header Connection $connection_upgrade;";
        s.location =
            "proxy_pass http://vibe_backend; proxy_http_version 1.1; "
            "proxy_buffering off; proxy_read_timeout 1h;";
        require_clean(s);
    }
}

TEST_CASE("each location proxying the upstream is checked, with its own file and line") {
    zdd_test::require_root();
    Setup s;
    s.other_locations =
        "location /static { root /tmp; }\n"
        "    location /events { proxy_pass http://vibe_backend/events; "
        "proxy_http_version 1.1; proxy_read_timeout 1h; "
        "proxy_set_header Upgrade $http_upgrade; "
        "proxy_set_header Connection $connection_upgrade; }";
    require_single_fix(s, "nginx.conf:24: location /events: proxy_buffering is on");
}

TEST_CASE("the upstream file and the upstream block must reach nginx") {
    zdd_test::require_root();
    Setup s;
    SECTION("the upstream file is not included") {
        write_text(s.dir / "other.conf", s.upstream + "\n");
        s.include_line = "include " + (s.dir / "other.conf").string() + ";";
        require_single_fix(
            s, "the upstream file " + s.cfg.upstream_file + " is not included in nginx's config");
    }
    SECTION("included through a relative glob counts") {
        std::filesystem::create_directory(s.dir / "conf.d");
        s.cfg.upstream_file = (s.dir / "conf.d" / "vibe-upstream.conf").string();
        write_text(s.cfg.upstream_file, s.upstream + "\n");
        s.upstream = "";  // DIR/upstream.conf is not included below
        s.include_line = "include conf.d/*.conf;";
        require_clean(s);
    }
    SECTION("no location proxies to the upstream") {
        s.location = "return 200;";
        require_single_fix(s, "no location proxy_passes to http://vibe_backend");
    }
}

TEST_CASE("nginx that cannot be checked is exit code 2") {
    Setup s;
    std::string out;
    SECTION("binary missing") {
        s.cfg.nginx_bin = "/nonexistent/nginx";
        CHECK(s.run(out) == 2);
        CHECK(out.find("[ERROR] cannot run /nonexistent/nginx") != std::string::npos);
    }
    SECTION("config rejected") {
        zdd_test::require_root();
        s.include_line = "include " + (s.dir / "missing.conf").string() + ";";
        CHECK(s.run(out) == 2);
        CHECK(out.find("-T` failed: ") != std::string::npos);
        CHECK(out.find("[emerg]") != std::string::npos);
        CHECK(out.find("missing.conf") != std::string::npos);
    }
}

TEST_CASE("token file readable by others, or missing") {
    zdd_test::require_root();
    Setup s;
    SECTION("mode 0644") {
        ::chmod(s.cfg.token_file.c_str(), 0644);
        require_single_fix(s,
                           "is readable by group or others (mode 0644): zdd refuses it; "
                           "chmod 600");
    }
    SECTION("missing, with no token in the environment") {
        REQUIRE(::getenv(kTokenEnv) == nullptr);
        s.cfg.token_file = (s.dir / "nope.env").string();
        require_single_fix(s, "nope.env is not readable (No such file or directory)");
    }
}

TEST_CASE("BPF unavailable is reported with the backend's reason") {
    zdd_test::require_root();
    Setup s;
    // Drop the capabilities BPF needs in a child (dropping CAP_BPF alone still lets root load).
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2]{};
        if (::syscall(SYS_capget, &hdr, data) != 0) ::_exit(3);
        for (int cap : {CAP_BPF, CAP_SYS_ADMIN, CAP_PERFMON}) {
            data[cap / 32].effective &= ~(1u << (cap % 32));
            data[cap / 32].permitted &= ~(1u << (cap % 32));
        }
        if (::syscall(SYS_capset, &hdr, data) != 0) ::_exit(4);
        std::string text;
        for (const auto& f : check_host(s.cfg))
            text += (f.level == DoctorFinding::Level::fix ? "FIX " : "NOTE ") + f.text + "\n";
        ssize_t n = ::write(fds[1], text.data(), text.size());
        ::_exit(n == static_cast<ssize_t>(text.size()) ? 0 : 5);
    }
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) text.append(buf, n);
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    INFO(text);
    CHECK(count(text, "FIX ") == 1);
    CHECK(text.find("FIX BPF monitor unavailable (") != std::string::npos);
    CHECK(text.find("zdd falls back to sock_diag") != std::string::npos);

    // With the capabilities, the same check finds nothing.
    CHECK(check_host(s.cfg).empty());
}
