// zdd rollback's flow (flow/rollback.cpp) on fakes: back to a previous color that still runs,
// that stopped (restarted from its release), or that does not exist; during a drain; and the
// deploy that never took traffic.
#include <catch2/catch.hpp>

#include "fakes/flow_harness.hpp"
#include "flow/rollback.hpp"

using zdd::Color;
using zdd::Phase;
using zdd_fake::FlowHarness;
using Lines = std::vector<std::string>;

namespace {

// Green serves (deployed over blue, that deploy finished); blue's release is kept.
struct GreenServes : FlowHarness {
    std::filesystem::path blue_release = release("v1");
    explicit GreenServes(bool blue_runs) {
        serving(Color::green, release("v2"), "2.0");
        store->current.instances[Color::blue] =
            instance(Color::blue, blue_release, "1.0", blue_runs);
        store->current.deploy =
            zdd::DeployRecord{Color::green, Color::blue, {{Phase::done, zdd::unix_now()}}};
    }
    zdd::Outcome rollback() {
        return outcome([&] { return zdd::run_rollback(*ctx); });
    }
    std::string watch_green() const {
        return "monitor watch " + std::to_string(port(Color::green));
    }
};

}  // namespace

TEST_CASE("rollback to a previous color that still runs: reused, green drained and stopped") {
    GreenServes h(true);
    const int blue_pid = h.store->current.instances.at(Color::blue).pid;
    REQUIRE(h.rollback() == zdd::Outcome::ok);
    CHECK(h.journal.lines == Lines{h.watch_green(), "nginx blue:100 green:1", "nginx blue:100",
                                   "signal green SIGTERM"});
    CHECK(h.runner->starts.empty());
    const auto& s = h.store->current;
    CHECK(s.active == Color::blue);
    CHECK(s.instances.at(Color::blue).pid == blue_pid);
    CHECK(s.deploy->to == Color::blue);
    CHECK(s.deploy->from == Color::green);
    CHECK(h.phases().back() == Phase::done);
    CHECK(h.err.str().find("[INFO] rolling back: green -> blue") != std::string::npos);
    CHECK(h.err.str().find("still runs (pid " + std::to_string(blue_pid) + "): reusing it") !=
          std::string::npos);
}

TEST_CASE("rollback to a stopped previous color: restarted from its recorded release") {
    GreenServes h(false);
    h.store->current.instances[Color::blue].args = {"--old"};
    REQUIRE(h.rollback() == zdd::Outcome::ok);
    CHECK(h.journal.lines == Lines{"start blue", h.watch_green(), "nginx blue:100 green:1",
                                   "nginx blue:100", "signal green SIGTERM"});
    REQUIRE(h.runner->starts.size() == 1);
    CHECK(h.runner->starts[0].binary == h.blue_release);
    CHECK(h.runner->starts[0].args == std::vector<std::string>{"--old"});
    CHECK(h.store->current.active == Color::blue);
}

TEST_CASE("rollback with no previous color recorded: exit 15, nothing touched") {
    FlowHarness h;
    h.serving(Color::green, h.release("v2"), "2.0");
    REQUIRE(h.outcome([&] { return zdd::run_rollback(*h.ctx); }) == zdd::Outcome::nothing_to_do);
    CHECK(h.failure == "no previous release recorded for blue: nothing to roll back to");
    CHECK(h.journal.lines.empty());
}

TEST_CASE("rollback with no active color: exit 15") {
    FlowHarness h;
    REQUIRE(h.outcome([&] { return zdd::run_rollback(*h.ctx); }) == zdd::Outcome::nothing_to_do);
    CHECK(h.failure.find("nothing to roll back") != std::string::npos);
    CHECK(h.journal.lines.empty());
}

TEST_CASE("rollback whose previous release is gone: exit 7") {
    GreenServes h(false);
    std::filesystem::remove(h.blue_release);
    REQUIRE(h.rollback() == zdd::Outcome::release);
    CHECK(h.journal.lines.empty());
}

TEST_CASE("rollback during an interrupted drain: the draining color serves again") {
    GreenServes h(true);
    auto& s0 = h.store->current;
    s0.draining = Color::blue;
    s0.deploy->phases = {{Phase::shifting, 1}, {Phase::removing_old, 2}, {Phase::draining, 3}};
    h.nginx->text = zdd::render_upstream(h.ctx->upstream_for({{Color::green, 100}}));
    REQUIRE(h.rollback() == zdd::Outcome::ok);
    CHECK(h.journal.lines == Lines{h.watch_green(), "nginx blue:100 green:1", "nginx blue:100",
                                   "signal green SIGTERM"});
    const auto& s = h.store->current;
    CHECK(s.active == Color::blue);
    CHECK_FALSE(s.draining);
    CHECK(h.runner->running.count(Color::blue) == 1);
    CHECK(h.runner->running.count(Color::green) == 0);
}

TEST_CASE("rollback after a deploy that never took traffic: the leftover is stopped only") {
    FlowHarness h;
    h.serving(Color::blue, h.release("v1"), "1.0");
    h.store->current.instances[Color::green] = h.instance(Color::green, h.release("v2"), "", true);
    h.store->current.deploy = zdd::DeployRecord{
        Color::green, Color::blue, {{Phase::starting, 1}, {Phase::health_check, 2}}};
    REQUIRE(h.outcome([&] { return zdd::run_rollback(*h.ctx); }) == zdd::Outcome::ok);
    CHECK(h.journal.lines == Lines{"signal green SIGTERM"});
    CHECK(h.nginx->attempts == 0);
    const auto& s = h.store->current;
    CHECK(s.active == Color::blue);
    CHECK(h.phases().back() == Phase::done);
    CHECK(s.last_error.empty());
}

TEST_CASE("rollback when a zdd that is not draining holds the lock: exit 4") {
    GreenServes h(true);
    h.store->lock_busy = true;
    REQUIRE(h.rollback() == zdd::Outcome::locked);
    CHECK(h.failure.find("a rollback takes over only a zdd in step 5") != std::string::npos);
    CHECK(h.journal.lines.empty());
}
