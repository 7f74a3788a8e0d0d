#include "e2e_host.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "runner/command.hpp"
#include "nginx/nginx_control.hpp"
#include "runner/port_owner.hpp"
#include "runner/proc.hpp"

namespace zdd_e2e {

using namespace std::chrono_literals;

std::string read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

bool process_alive(int pid) {
    if (pid <= 0) return false;
    auto st = zdd::read_proc_stat(pid);
    return st && st->state != 'Z';
}

E2eHost::E2eHost() {
    zdd_test::require_root();
    ::chmod(tmp_.path().c_str(), 0755);
    // free_port() never hands out a port twice in a process: all four differ.
    blue_ = zdd_test::free_port();
    green_ = zdd_test::free_port();
    nginx_ = std::make_unique<zdd_test::NginxFixture>(
        "vibe_backend",
        "upstream vibe_backend {\n    server 127.0.0.1:" + std::to_string(blue_) + ";\n}\n");
    // A server set up as docs/design.md's deploys need: HTTP/1.1 to the upstream, no buffering.
    sse_port_ = zdd_test::free_port();
    zdd_test::write_text(nginx_->extra_file(),
                         "server {\n    listen 127.0.0.1:" + std::to_string(sse_port_) +
                             ";\n    location / {\n        proxy_pass http://vibe_backend;\n"
                             "        proxy_http_version 1.1;\n"
                             "        proxy_set_header Connection \"\";\n"
                             "        proxy_buffering off;\n"
                             "        proxy_read_timeout 1h;\n    }\n}\n");
    zdd::Nginx(nginx_->options()).reload();
    zdd_test::write_text(tmp_ / "deployment.env",
                         std::string("VIBE_DEPLOYMENT_TOKEN=") + kToken + "\n", 0600);
}

E2eHost::~E2eHost() {
    // No instance may outlive the test: whatever listens on our ports, and recorded pids.
    for (uint16_t p : {blue_, green_})
        for (int i = 0; i < 5; ++i) {
            auto pid = zdd::listener_pid(p);
            if (!pid) break;
            ::kill(*pid, SIGKILL);
            std::this_thread::sleep_for(50ms);
        }
    try {
        for (const char* c : {"blue", "green"})
            if (int pid = pid_of(c); process_alive(pid)) ::kill(pid, SIGKILL);
    } catch (...) {
    }
}

std::string E2eHost::zdd_binary() const {
    return zdd_test::build_dir() + "/orchestrator/zdd";
}
std::string E2eHost::demo_app_binary() const {
    return zdd_test::build_dir() + "/examples/demo-app/zdd-demo-app";
}

std::vector<std::string> E2eHost::host_flags() const {
    const std::string d = tmp_.path().string();
    return {
        "--state-dir",     d + "/state",
        "--status-file",   d + "/deployment.status",
        "--upstream-file", nginx_->upstream_file().string(),
        "--nginx-conf",    nginx_->conf().string(),
        "--nginx-prefix",  nginx_->dir().string(),
        "--ports",         std::to_string(blue_) + "," + std::to_string(green_),
        "--token-file",    d + "/deployment.env",
        "--probe-url",     "http://127.0.0.1:" + std::to_string(sse_port_) + "/health/deployment"};
}

ZddRun E2eHost::zdd(const std::string& sub, const std::vector<std::string>& extra,
                    const std::map<std::string, std::string>& env, std::chrono::seconds bound) {
    static int n = 0;
    const std::string base = (tmp_ / ("zdd-run-" + std::to_string(++n))).string();
    std::vector<std::string> argv{zdd_binary(), sub};
    for (const auto& a : host_flags()) argv.push_back(a);
    for (const auto& a : extra) argv.push_back(a);
    zdd_test::Subprocess p(argv, env, base + ".out", base + ".err");
    ZddRun r;
    r.status = p.wait(bound);
    r.out = read_file(base + ".out");
    r.err = read_file(base + ".err");
    UNSCOPED_INFO("zdd " << sub << " exit " << r.status << "\nstderr:\n" << r.err);
    return r;
}

zdd_test::Subprocess E2eHost::zdd_async(const std::string& sub,
                                        const std::vector<std::string>& extra,
                                        const std::map<std::string, std::string>& env,
                                        const std::string& err_path) {
    std::vector<std::string> argv{zdd_binary(), sub};
    for (const auto& a : host_flags()) argv.push_back(a);
    for (const auto& a : extra) argv.push_back(a);
    return zdd_test::Subprocess(argv, env, "", err_path);
}

nlohmann::json E2eHost::state() const {
    auto text = read_file(tmp_ / "state" / "state.json");
    if (text.empty()) return nullptr;
    return nlohmann::json::parse(text, nullptr, false);
}

std::string E2eHost::phase() const {
    auto s = state();
    if (!s.is_object() || !s["deploy"].is_object()) return "";
    return s["deploy"].value("phase", "");
}

bool E2eHost::wait_phase(const std::string& ph, std::chrono::milliseconds bound) const {
    return zdd_test::wait_until([&] { return phase() == ph; }, bound, 20ms);
}

int E2eHost::pid_of(const std::string& color) const {
    auto s = state();
    if (!s.is_object() || !s["colors"].contains(color)) return 0;
    return s["colors"][color].value("pid", 0);
}

std::string E2eHost::color_through_nginx() const {
    auto r =
        zdd::run_command({"curl", "-s", "--noproxy", "*", "--max-time", "5", "-H",
                          std::string("Authorization: Bearer ") + kToken,
                          "http://127.0.0.1:" + std::to_string(sse_port_) + "/health/deployment"},
                         10s);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j.value("deploymentColor", "") : "";
}

nlohmann::json E2eHost::deployment_report(uint16_t port) const {
    auto r = zdd::run_command({"curl", "-s", "--noproxy", "*", "--max-time", "5", "-H",
                               std::string("Authorization: Bearer ") + kToken,
                               "http://127.0.0.1:" + std::to_string(port) + "/health/deployment"},
                              10s);
    return nlohmann::json::parse(r.out, nullptr, false);
}

}  // namespace zdd_e2e
