#include "nginx_fixture.hpp"

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "runner/command.hpp"
#include "runner/proc.hpp"
#include "test_support.hpp"

namespace zdd_test {

using namespace std::chrono_literals;

NginxFixture::NginxFixture(const std::string& upstream_name, const std::string& upstream_text) {
    require_root();  // workers switch user; the fixture needs root like CI has
    const std::string d = dir_.path().string();
    ::chmod(d.c_str(), 0755);
    port_ = free_port();
    write_text(upstream_file(), upstream_text);
    write_text(extra_file(), "# tests add servers here\n");
    write_text(conf(),
               "worker_processes 1;\n"
               "pid " +
                   d +
                   "/nginx.pid;\n"
                   "error_log " +
                   d +
                   "/error.log info;\n"
                   "events { worker_connections 128; }\n"
                   "http {\n"
                   "    access_log off;\n"
                   "    client_body_temp_path " +
                   d +
                   "/tmp_body;\n"
                   "    proxy_temp_path " +
                   d +
                   "/tmp_proxy;\n"
                   "    fastcgi_temp_path " +
                   d +
                   "/tmp_fastcgi;\n"
                   "    uwsgi_temp_path " +
                   d +
                   "/tmp_uwsgi;\n"
                   "    scgi_temp_path " +
                   d +
                   "/tmp_scgi;\n"
                   "    include " +
                   upstream_file().string() +
                   ";\n"
                   "    include " +
                   extra_file().string() +
                   ";\n"
                   "    server {\n"
                   "        listen 127.0.0.1:" +
                   std::to_string(port_) +
                   ";\n"
                   "        location / { proxy_pass http://" +
                   upstream_name +
                   "; }\n"
                   "    }\n"
                   "}\n");
    // Daemonized as in production: the master writes the pid file and keeps running.
    auto r = zdd::run_command({"nginx", "-p", d, "-c", conf().string()}, 30s);
    if (!r.ok()) FAIL("nginx did not start: " << r.err << " " << read_text(dir_ / "error.log"));
    bool up = wait_until(
        [&] {
            auto t = read_text(pid_file());
            return !t.empty() && std::stoi(t) > 0 && !zdd::child_pids(std::stoi(t)).empty();
        },
        10s);
    if (!up) FAIL("nginx wrote no pid file or started no worker");
    master_ = std::stoi(read_text(pid_file()));
}

NginxFixture::~NginxFixture() {
    if (master_ <= 0) return;
    auto workers = zdd::child_pids(master_);
    ::kill(master_, SIGTERM);  // fast shutdown; workers go with it
    bool gone = wait_until([&] { return !zdd::read_proc_stat(master_).has_value(); }, 10s);
    if (!gone) ::kill(master_, SIGKILL);
    for (pid_t w : workers) {
        auto st = zdd::read_proc_stat(w);
        if (st && st->ppid == master_) ::kill(w, SIGKILL);
    }
    // Old workers of earlier reloads are children too: none may outlive the test.
    for (pid_t w : zdd::child_pids(master_)) ::kill(w, SIGKILL);
}

zdd::NginxOptions NginxFixture::options() const {
    zdd::NginxOptions o;
    o.bin = "nginx";
    o.prefix = dir_.path().string();
    o.conf = conf().string();
    o.reload_timeout = 10s;
    return o;
}

std::string http_get(uint16_t port, const std::string& path) {
    auto r = zdd::run_command({"curl", "-s", "--noproxy", "*", "--max-time", "5",
                               "http://127.0.0.1:" + std::to_string(port) + path},
                              10s);
    return r.ok() ? r.out : "";
}

}  // namespace zdd_test
