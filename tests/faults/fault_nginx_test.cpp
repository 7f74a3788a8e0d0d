// nginx faults while zdd moves traffic: `nginx -t` fails (an include of a broken file), and a
// reload that does not take (a `listen` on a busy port: `nginx -s reload` exits 0 but the
// master keeps its old config). Each: its own exit code, one clear error, the upstream file
// restored, traffic never interrupted, and once the fault is gone the next deploy works.
#include <catch2/catch.hpp>
#include <thread>

#include "fault_support.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("fault: nginx -t fails on a broken include", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(h.upstream_file());
    const std::string extra = zdd_e2e::read_file(h.nginx().extra_file());
    const auto broken = h.dir() / "broken.conf";
    zdd_test::write_text(broken, "server { listen 127.0.0.1:1; this_is_not_a_directive; }\n");
    zdd_test::write_text(h.nginx().extra_file(), extra + "include " + broken.string() + ";\n");

    auto traffic = zdd_fault::start_traffic(h);
    auto r = h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v2"}});
    zdd_fault::check_traffic(*traffic);
    CHECK(r.status == 10);
    CHECK(zdd_fault::count_errors(r.err) == 1);
    CHECK(r.err.find("nginx -t failed") != std::string::npos);
    CHECK(r.err.find("this_is_not_a_directive") != std::string::npos);
    zdd_fault::check_untouched(h, before, blue_pid);

    zdd_test::write_text(h.nginx().extra_file(), extra);
    auto again = zdd_fault::start_traffic(h);
    zdd_fault::check_next_deploy(h, "v3");
    zdd_fault::check_traffic(*again);
}

TEST_CASE("fault: a reload that does not take (busy listen port)", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(h.upstream_file());
    const std::string extra = zdd_e2e::read_file(h.nginx().extra_file());
    auto busy = zdd_test::tcp_listen("127.0.0.1", 0);
    zdd_test::write_text(
        h.nginx().extra_file(),
        extra + "server { listen 127.0.0.1:" + std::to_string(zdd_test::local_port(busy.get())) +
            "; return 204; }\n");

    auto traffic = zdd_fault::start_traffic(h);
    auto r = h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v2"}});
    zdd_fault::check_traffic(*traffic);
    CHECK(r.status == 11);
    CHECK(zdd_fault::count_errors(r.err) == 1);
    CHECK(r.err.find("reload") != std::string::npos);
    zdd_fault::check_untouched(h, before, blue_pid);

    busy.reset();
    zdd_test::write_text(h.nginx().extra_file(), extra);
    auto again = zdd_fault::start_traffic(h);
    zdd_fault::check_next_deploy(h, "v3");
    zdd_fault::check_traffic(*again);
}
