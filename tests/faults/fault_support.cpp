#include "fault_support.hpp"

#include <catch2/catch.hpp>

#include "nginx_tuning.hpp"
#include "runner/port_owner.hpp"

namespace zdd_fault {

using namespace std::chrono_literals;

int count_errors(const std::string& err) {
    int n = 0;
    for (size_t at = err.find("[ERROR]"); at != std::string::npos; at = err.find("[ERROR]", at + 1))
        ++n;
    return n;
}

std::string script(zdd_e2e::E2eHost& h, const std::string& name, const std::string& body) {
    const auto path = h.dir() / name;
    zdd_test::write_text(path, "#!/bin/sh\n" + body, 0755);
    return path.string();
}

std::unique_ptr<zdd_load::TrafficLoop> start_traffic(zdd_e2e::E2eHost& h) {
    auto t = std::make_unique<zdd_load::TrafficLoop>(
        "http://127.0.0.1:" + std::to_string(h.nginx_port()) + "/health");
    REQUIRE(t->wait_requests(3));
    return t;
}

void check_traffic(zdd_load::TrafficLoop& t) {
    auto r = t.stop();
    INFO("traffic through nginx: " << zdd_load::describe(r));
    CHECK(r.requests > 0);
    CHECK(r.failures == 0);
}

void check_untouched(zdd_e2e::E2eHost& h, const std::string& upstream_before, int blue_pid,
                     bool recorded) {
    CHECK(zdd_e2e::read_file(h.upstream_file()) == upstream_before);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(h.pid_of("blue") == blue_pid);
    CHECK_FALSE(zdd::port_listening(h.green_port()));
    CHECK_FALSE(zdd_e2e::process_alive(h.pid_of("green")));
    auto s = h.state();
    REQUIRE(s.is_object());
    CHECK(s["active"] == "blue");
    CHECK(s["draining"].is_null());
    if (recorded) CHECK_FALSE(s.value("last_error", std::string()).empty());
}

void check_next_deploy(zdd_e2e::E2eHost& h, const std::string& version) {
    auto r = h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", version}});
    INFO("next deploy stderr:\n" << r.err);
    REQUIRE(r.status == 0);
    CHECK(zdd_load::version_through_nginx(h) == version);
}

zdd_e2e::ZddRun run_zdd(zdd_e2e::E2eHost& h, const std::string& sub,
                        const std::vector<std::string>& extra, const Invocation& how) {
    static int n = 0;
    const std::string base = (h.dir() / ("fault-run-" + std::to_string(++n))).string();
    std::vector<std::string> argv = how.prefix;
    if (argv.empty()) argv.push_back(h.zdd_binary());
    argv.push_back(sub);
    auto flags = h.host_flags();
    for (size_t i = 0; i + 1 < flags.size(); i += 2)
        if (auto it = how.replace.find(flags[i]); it != how.replace.end())
            flags[i + 1] = it->second;
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    zdd_test::Subprocess p(argv, how.env, base + ".out", base + ".err");
    zdd_e2e::ZddRun r;
    r.status = p.wait(90s);
    r.out = zdd_e2e::read_file(base + ".out");
    r.err = zdd_e2e::read_file(base + ".err");
    UNSCOPED_INFO("zdd " << sub << " exit " << r.status << "\nstderr:\n" << r.err);
    return r;
}

}  // namespace zdd_fault
