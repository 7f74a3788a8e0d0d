// Faults of the host's configuration: a wrong token, a missing token file, a state dir zdd
// cannot write (a read-only bind mount: root ignores file modes), the upstream file's disk full
// (a small tmpfs). Each: its own exit code and one clear error before traffic moves, nothing
// changed, traffic never interrupted, and the next deploy works once the fault is gone.
#include <catch2/catch.hpp>
#include <thread>
#include <regex>

#include "fault_support.hpp"
#include "nginx/nginx_control.hpp"
#include "nginx_tuning.hpp"
#include "scoped_mount.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("fault: wrong token, then a missing token file", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(h.upstream_file());
    const auto wrong = h.dir() / "wrong.env";
    zdd_test::write_text(wrong, "VIBE_DEPLOYMENT_TOKEN=not-the-token\n", 0600);

    auto traffic = zdd_fault::start_traffic(h);
    auto r = zdd_fault::run_zdd(h, "deploy", {h.demo_app_binary()},
                                {{{"--token-file", wrong.string()}}, {}, {}});
    CHECK(r.status == 6);
    CHECK(zdd_fault::count_errors(r.err) == 1);
    CHECK(r.err.find("401") != std::string::npos);
    CHECK(r.err.find("not-the-token") == std::string::npos);  // the token never in a log
    zdd_fault::check_untouched(h, before, blue_pid, false);

    const std::string missing = (h.dir() / "no-such.env").string();
    auto m = zdd_fault::run_zdd(h, "deploy", {h.demo_app_binary()},
                                {{{"--token-file", missing}}, {}, {}});
    CHECK(m.status == 6);
    CHECK(zdd_fault::count_errors(m.err) == 1);
    CHECK(m.err.find(missing) != std::string::npos);
    zdd_fault::check_untouched(h, before, blue_pid, false);
    zdd_fault::check_traffic(*traffic);

    auto again = zdd_fault::start_traffic(h);
    zdd_fault::check_next_deploy(h, "v2");
    zdd_fault::check_traffic(*again);
}

TEST_CASE("fault: the state dir is not writable", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(h.upstream_file());
    const auto state_dir = h.dir() / "state";
    const std::string state_before = zdd_e2e::read_file(state_dir / "state.json");

    auto traffic = zdd_fault::start_traffic(h);
    {
        auto ro = zdd_fault::ScopedMount::read_only_bind(state_dir);
        auto r = h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v2"}});
        CHECK(r.status == 14);
        CHECK(zdd_fault::count_errors(r.err) == 1);
        CHECK(r.err.find(state_dir.string()) != std::string::npos);
        CHECK(zdd_e2e::read_file(state_dir / "state.json") == state_before);
        zdd_fault::check_untouched(h, before, blue_pid, false);
    }
    zdd_fault::check_next_deploy(h, "v2");
    zdd_fault::check_traffic(*traffic);
}

TEST_CASE("fault: the upstream file's disk is full", "[fault]") {
    E2eHost h;
    const auto fs_dir = h.dir() / "upstream-fs";
    auto tmpfs = zdd_fault::ScopedMount::tmpfs(fs_dir, 64 * 1024);
    const auto upstream = fs_dir / "upstream.conf";
    // nginx includes the upstream file from the small tmpfs.
    const std::string conf = zdd_e2e::read_file(h.nginx().conf());
    zdd_test::write_text(upstream, zdd_e2e::read_file(h.upstream_file()));
    const std::string moved =
        std::regex_replace(conf, std::regex("include " + h.upstream_file().string() + ";"),
                           "include " + upstream.string() + ";");
    REQUIRE(moved != conf);
    zdd_test::write_text(h.nginx().conf(), moved);
    zdd::Nginx(h.nginx().options()).reload();
    const zdd_fault::Invocation on_tmpfs{{{"--upstream-file", upstream.string()}}, {}, {}};

    REQUIRE(zdd_fault::run_zdd(h, "deploy", {h.demo_app_binary()},
                               {on_tmpfs.replace, {}, {{"APP_VERSION", "v1"}}})
                .status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(upstream);
    zdd_fault::fill_filesystem(fs_dir);

    auto traffic = zdd_fault::start_traffic(h);
    auto r = zdd_fault::run_zdd(h, "deploy", {h.demo_app_binary()},
                                {on_tmpfs.replace, {}, {{"APP_VERSION", "v2"}}});
    CHECK(r.status != 0);
    CHECK(r.status != -1);
    CHECK(zdd_fault::count_errors(r.err) == 1);
    CHECK(r.err.find("No space left on device") != std::string::npos);
    CHECK(zdd_e2e::read_file(upstream) == before);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK_FALSE(zdd_e2e::process_alive(h.pid_of("green")));
    CHECK(h.state()["active"] == "blue");

    std::filesystem::remove(fs_dir / "filler");
    auto next = zdd_fault::run_zdd(h, "deploy", {h.demo_app_binary()},
                                   {on_tmpfs.replace, {}, {{"APP_VERSION", "v3"}}});
    CHECK(next.status == 0);
    CHECK(zdd_load::version_through_nginx(h) == "v3");
    zdd_fault::check_traffic(*traffic);
    // Instances go before the tmpfs does (E2eHost's destructor runs after this one otherwise).
    zdd_test::write_text(h.nginx().conf(), conf);
}
