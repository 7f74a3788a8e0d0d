// Issue 13.4 and 13.5: state.json records the intent before nginx changes, and commands believe
// nginx's upstream file when a failure after a reload (here: the state dir's tmpfs fills up the
// moment a reload took) left state.json behind. zdd never stops the color nginx serves, and a
// rollback never goes to a candidate that failed before it took traffic.
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"
#include "e2e_streams.hpp"
#include "sse_check.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

// A small tmpfs on the test's state dir, unmounted at the end.
struct StateTmpfs {
    std::filesystem::path dir;
    explicit StateTmpfs(const std::filesystem::path& d) : dir(d) {
        std::filesystem::create_directories(dir);
        REQUIRE(::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64m,mode=0755") == 0);
    }
    ~StateTmpfs() { ::umount2(dir.c_str(), MNT_DETACH); }
};

// An nginx that fills the state dir once its reload number `arm` has been sent: the next
// state.json write after that reload fails with ENOSPC.
std::string filling_nginx(E2eHost& h, int arm) {
    const auto d = h.dir();
    zdd_test::write_text(d / "arm", std::to_string(arm) + "\n");
    const auto script = d / "filling-nginx.sh";
    zdd_test::write_text(script,
                         "#!/bin/sh\n"
                         "r=\n"
                         "for a in \"$@\"; do [ \"$a\" = reload ] && r=1; done\n"
                         "[ -z \"$r\" ] && exec nginx \"$@\"\n"
                         "nginx \"$@\"; rc=$?\n"
                         "n=$(cat " +
                             (d / "reloads").string() +
                             " 2>/dev/null || echo 0)\n"
                             "n=$((n + 1)); echo $n > " +
                             (d / "reloads").string() +
                             "\n"
                             "if [ \"$n\" = \"$(cat " +
                             (d / "arm").string() +
                             ")\" ]; then\n"
                             "  dd if=/dev/zero of=" +
                             (d / "state" / "filler").string() +
                             " bs=64k >/dev/null 2>&1\n"
                             "fi\n"
                             "exit $rc\n");
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    return script.string();
}

}  // namespace

TEST_CASE("e2e state dir full right after step 3's reload: status tells, zdd drain finishes",
          "[e2e]") {
    E2eHost h;
    StateTmpfs fs(h.dir() / "state");
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_e2e::open_blue_stream(h, out, 10);

    auto r = h.zdd("deploy", {h.demo_app_binary(), "--nginx-bin", filling_nginx(h, 1)});
    CHECK(r.status == 14);
    std::filesystem::remove(h.dir() / "state" / "filler");
    // state.json still holds the intent: phase shifting, blue active.
    CHECK(h.state()["active"] == "blue");
    CHECK(h.phase() == "shifting");
    const int green_pid = h.pid_of("green");
    REQUIRE(green_pid > 0);
    REQUIRE(h.color_through_nginx() == "green");

    auto st = h.zdd("status", {"--json"});
    REQUIRE(st.status == 0);
    auto j = nlohmann::json::parse(st.out);
    CHECK(j["active"] == "green");
    CHECK(j["draining"] == "blue");
    CHECK(j["state_note"].get<std::string>().find("sends green traffic") != std::string::npos);
    CHECK(j["hint"].get<std::string>().find("zdd drain") != std::string::npos);

    // The next deploy neither stops green (the serving color) nor cuts blue's stream.
    CHECK(h.zdd("deploy", {h.demo_app_binary()}).status == 5);
    CHECK(zdd_e2e::process_alive(green_pid));
    CHECK(zdd_e2e::process_alive(blue_pid));

    auto d = h.zdd("drain");
    CHECK(d.status == 0);
    CHECK(curl.wait(10s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 20) ==
          "");
    CHECK_FALSE(zdd_e2e::process_alive(blue_pid));
    CHECK(zdd_e2e::process_alive(green_pid));
    CHECK(h.color_through_nginx() == "green");
    CHECK(h.state()["active"] == "green");
    CHECK(h.state()["draining"].is_null());
}

TEST_CASE("e2e state dir full right after step 4's reload: zdd rollback finishes", "[e2e]") {
    E2eHost h;
    StateTmpfs fs(h.dir() / "state");
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string out = (h.dir() / "stream.txt").string();
    auto curl = zdd_e2e::open_blue_stream(h, out, 8);

    auto r = h.zdd("deploy", {h.demo_app_binary(), "--nginx-bin", filling_nginx(h, 2)});
    CHECK(r.status == 14);
    std::filesystem::remove(h.dir() / "state" / "filler");
    CHECK(h.phase() == "removing_old");
    const int green_pid = h.pid_of("green");
    REQUIRE(h.color_through_nginx() == "green");
    auto j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j["active"] == "green");
    CHECK(j["hint"].get<std::string>().find("zdd drain") != std::string::npos);

    auto rb = h.zdd("rollback");
    CHECK(rb.status == 0);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(h.pid_of("blue") == blue_pid);
    CHECK_FALSE(zdd_e2e::process_alive(green_pid));
    CHECK(curl.wait(15s) == 0);
    CHECK(zdd_demo_test::check_sse(zdd_demo_test::parse_sse(zdd_e2e::read_file(out)), "done", 16) ==
          "");
}

TEST_CASE("e2e after a deploy failed at nginx -t, rollback keeps the color that served", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string extra = zdd_e2e::read_file(h.nginx().extra_file());
    zdd_test::write_text(h.nginx().extra_file(), extra + "bogus_directive on;\n");
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}).status == 10);
    zdd_test::write_text(h.nginx().extra_file(), extra);

    auto j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    const std::string hint = j["hint"].get<std::string>();
    CHECK(hint.find("goes back") == std::string::npos);
    CHECK(hint.find("blue still serves") != std::string::npos);
    // The failed candidate is not a color to go back to.
    CHECK(j["colors"]["green"]["release"] == "");

    auto rb = h.zdd("rollback");
    CHECK(rb.status == 0);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(blue_pid));
    CHECK(h.pid_of("blue") == blue_pid);
    // Nothing served before blue: a second rollback has nowhere to go and touches nothing.
    CHECK(h.zdd("rollback").status == 15);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(blue_pid));
}
