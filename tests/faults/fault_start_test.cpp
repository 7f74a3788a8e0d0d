// Faults of the new binary, all before traffic moves: it crashes at start, never becomes
// healthy, or listens on the wrong port. Each: one clear error with its own exit code, traffic
// through nginx never interrupted, blue untouched, the stray instance gone, next deploy works.
#include <catch2/catch.hpp>
#include <thread>

#include "fault_support.hpp"
#include "runner/port_owner.hpp"

using namespace std::chrono_literals;
using zdd_e2e::E2eHost;

namespace {

struct Case {
    const char* name;
    int code;
    const char* says;
};

}  // namespace

TEST_CASE("fault: the new binary crashes, stays mute or listens on the wrong port", "[fault]") {
    E2eHost h;
    REQUIRE(h.zdd("deploy", {h.demo_app_binary()}, {{"APP_VERSION", "v1"}}).status == 0);
    const int blue_pid = h.pid_of("blue");
    const std::string before = zdd_e2e::read_file(h.upstream_file());
    const uint16_t wrong = zdd_test::free_port();

    const std::string crash = zdd_fault::script(h, "crash.sh", "echo boom >&2\nexit 3\n");
    const std::string mute = zdd_fault::script(h, "mute.sh", "exec sleep 60\n");
    // The real app, told to listen elsewhere (--port beats the PORT zdd gives it).
    const std::string elsewhere = zdd_fault::script(
        h, "elsewhere.sh",
        "exec " + h.demo_app_binary() + " --port " + std::to_string(wrong) + "\n");

    const std::vector<std::pair<std::string, Case>> cases = {
        {crash, {"crashes at start", 8, "exited"}},
        {mute, {"never healthy", 9, "health"}},
        {elsewhere, {"wrong port", 9, "health"}},
    };
    int n = 1;
    for (const auto& [binary, c] : cases) {
        INFO(c.name);
        auto traffic = zdd_fault::start_traffic(h);
        auto r = h.zdd("deploy", {"--health-timeout", "3", binary});
        zdd_fault::check_traffic(*traffic);
        CHECK(r.status == c.code);
        CHECK(zdd_fault::count_errors(r.err) == 1);
        CHECK(r.err.find(c.says) != std::string::npos);
        zdd_fault::check_untouched(h, before, blue_pid);
        // Nothing the failed deploy started is left behind.
        CHECK_FALSE(zdd::port_listening(wrong));
        ++n;
    }
    // A deploy of a good binary goes through after all that.
    auto traffic = zdd_fault::start_traffic(h);
    zdd_fault::check_next_deploy(h, "v2");
    zdd_fault::check_traffic(*traffic);
}
