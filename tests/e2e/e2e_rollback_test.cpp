// zdd rollback after a deploy: traffic goes back to blue (its recorded release restarted,
// health-checked), green is drained and stopped. The two releases are distinct files that each
// bake in their own version, and every zdd call passes a third one in APP_VERSION: the version
// the restarted instance reports can only come from the release zdd chose to restart.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "e2e_host.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

// A release: a script that runs the demo app with its version on the command line (which wins
// over APP_VERSION in the environment).
std::string release(const E2eHost& h, const std::string& version) {
    const auto path = h.dir() / ("demo-app-" + version);
    zdd_test::write_text(
        path,
        "#!/bin/sh\nexec '" + h.demo_app_binary() + "' --version-string " + version + " \"$@\"\n",
        0755);
    return path.string();
}

}  // namespace

TEST_CASE("e2e rollback after a deploy returns to the previous color", "[e2e]") {
    E2eHost h;
    const std::map<std::string, std::string> env{{"APP_VERSION", "from-the-caller"}};
    const std::string v1 = release(h, "v1"), v2 = release(h, "v2");
    REQUIRE(h.zdd("deploy", {v1}, env).status == 0);
    REQUIRE(h.deployment_report(h.blue_port()).value("version", "") == "v1");
    REQUIRE(h.zdd("deploy", {v2}, env).status == 0);
    REQUIRE(h.color_through_nginx() == "green");
    REQUIRE(h.deployment_report(h.green_port()).value("version", "") == "v2");
    const int green_pid = h.pid_of("green");
    REQUIRE(h.pid_of("blue") == 0);

    auto r = h.zdd("rollback", {}, env);
    REQUIRE(r.status == 0);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(h.pid_of("blue")));
    CHECK_FALSE(zdd_e2e::process_alive(green_pid));
    // The restarted blue runs v1's release: the instance says so, and so does zdd's record.
    CHECK(h.deployment_report(h.blue_port()).value("version", "") == "v1");
    auto j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j["active"] == "blue");
    CHECK(j["colors"]["blue"]["version"] == "v1");
    CHECK(j["colors"]["green"]["running"] == false);
    CHECK(j["deploy"]["phase"] == "done");
    CHECK(zdd_e2e::read_file(h.dir() / "deployment.status") == "blue\n");

    // Rolling back again goes to green's recorded release (it still exists): v2 again.
    auto again = h.zdd("rollback", {}, env);
    CHECK(again.status == 0);
    CHECK(h.color_through_nginx() == "green");
    CHECK(h.deployment_report(h.green_port()).value("version", "") == "v2");
    auto j2 = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j2["colors"]["green"]["version"] == "v2");
}
