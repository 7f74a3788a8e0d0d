// zdd rollback after a deploy: traffic goes back to blue (its recorded release restarted,
// health-checked), green is drained and stopped.
#include <catch2/catch.hpp>

#include "e2e_host.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

TEST_CASE("e2e rollback after a deploy returns to the previous color", "[e2e]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v2"}}).status == 0);
    REQUIRE(h.color_through_nginx() == "green");
    const int green_pid = h.pid_of("green");
    REQUIRE(h.pid_of("blue") == 0);

    auto r = h.zdd("rollback", {}, {{"APP_VERSION", "v1"}});
    REQUIRE(r.status == 0);
    CHECK(h.color_through_nginx() == "blue");
    CHECK(zdd_e2e::process_alive(h.pid_of("blue")));
    CHECK_FALSE(zdd_e2e::process_alive(green_pid));
    auto j = nlohmann::json::parse(h.zdd("status", {"--json"}).out);
    CHECK(j["active"] == "blue");
    CHECK(j["colors"]["blue"]["version"] == "v1");
    CHECK(j["colors"]["green"]["running"] == false);
    CHECK(j["deploy"]["phase"] == "done");
    CHECK(zdd_e2e::read_file(h.dir() / "deployment.status") == "blue\n");

    // Nothing left to go back to once green's instance is gone and blue serves: rollback
    // goes to green's recorded release again (it still exists).
    auto again = h.zdd("rollback");
    CHECK(again.status == 0);
    CHECK(h.color_through_nginx() == "green");
}
