// zdd drain's flow (flow/drain_command.cpp) on fakes: finishing a drain an interrupted deploy
// left, redoing step 4 when the upstream still lists the old color, and the refusals.
#include <signal.h>

#include <catch2/catch.hpp>

#include "fakes/flow_harness.hpp"
#include "flow/drain_command.hpp"

using zdd::Color;
using zdd::Phase;
using zdd_fake::FlowHarness;
using Lines = std::vector<std::string>;

namespace {

// A deploy blue -> green interrupted in step `at`: green active, blue still running.
struct Interrupted : FlowHarness {
    explicit Interrupted(Phase at) {
        serving(Color::green, release("v2"), "2.0");
        store->current.instances[Color::blue] = instance(Color::blue, release("v1"), "1.0", true);
        std::vector<zdd::PhaseStamp> ph;
        for (Phase p : {Phase::starting, Phase::health_check, Phase::shifting, Phase::removing_old,
                        Phase::draining})
            if (p <= at) ph.push_back({p, zdd::unix_now()});
        store->current.deploy = zdd::DeployRecord{Color::green, Color::blue, ph};
        if (at == Phase::draining) store->current.draining = Color::blue;
    }
    zdd::Outcome drain(std::optional<Color> c = std::nullopt) {
        return outcome([&] { return zdd::run_drain(*ctx, c); });
    }
    std::string watch_blue() const { return "monitor watch " + std::to_string(port(Color::blue)); }
};

}  // namespace

TEST_CASE("zdd drain finishes an interrupted drain: waits, then stops the old color") {
    Interrupted h(Phase::draining);
    h.monitor.connections = {1, 1, 0};
    std::vector<bool> blue_alive;
    h.monitor.on_count = [&](int) { blue_alive.push_back(h.runner->running.count(Color::blue)); };
    REQUIRE(h.drain() == zdd::Outcome::ok);
    CHECK(h.journal.lines == Lines{h.watch_blue(), "signal blue SIGTERM"});
    REQUIRE(blue_alive.size() >= 3);
    CHECK(std::all_of(blue_alive.begin(), blue_alive.end(), [](bool b) { return b; }));
    const auto& s = h.store->current;
    CHECK_FALSE(s.draining);
    CHECK(s.active == Color::green);
    CHECK(h.phases() == std::vector<Phase>{Phase::starting, Phase::health_check, Phase::shifting,
                                           Phase::removing_old, Phase::draining, Phase::draining,
                                           Phase::stopping, Phase::done});
}

TEST_CASE("zdd drain after an interrupt in step 3: the old color leaves the upstream first") {
    Interrupted h(Phase::shifting);
    h.nginx->text =
        zdd::render_upstream(h.ctx->upstream_for({{Color::green, 100}, {Color::blue, 1}}));
    REQUIRE(h.drain() == zdd::Outcome::ok);
    CHECK(h.journal.lines == Lines{h.watch_blue(), "nginx green:100", "signal blue SIGTERM"});
    auto ph = h.phases();
    CHECK(std::vector<Phase>(ph.end() - 4, ph.end()) ==
          std::vector<Phase>{Phase::removing_old, Phase::draining, Phase::stopping, Phase::done});
}

TEST_CASE("zdd drain interrupted again: state kept for the next zdd drain") {
    Interrupted h(Phase::draining);
    h.monitor.connections = {1};
    h.monitor.on_count = [](int i) {
        if (i == 1) ::raise(SIGTERM);
    };
    REQUIRE(h.drain() == zdd::Outcome::interrupted);
    CHECK(h.journal.lines == Lines{h.watch_blue()});
    CHECK(h.store->current.draining == Color::blue);
    CHECK(h.store->current.last_error.find("interrupted by SIGTERM while draining blue; nginx "
                                           "and both instances are left as they are") == 0);
}

TEST_CASE("zdd drain with nothing draining: exit 0, nothing touched") {
    FlowHarness h;
    h.serving(Color::blue, h.release("v1"), "1.0");
    REQUIRE(h.outcome([&] { return zdd::run_drain(*h.ctx, std::nullopt); }) == zdd::Outcome::ok);
    CHECK(h.journal.lines.empty());
    CHECK(h.err.str() == "[INFO] nothing is draining\n");
}

TEST_CASE("zdd drain --color of the active color is refused (exit 2)") {
    Interrupted h(Phase::draining);
    REQUIRE(h.drain(Color::green) == zdd::Outcome::usage);
    CHECK(h.failure.find("green is the active color") == 0);
    CHECK(h.journal.lines.empty());
}

TEST_CASE("zdd drain when the monitor cannot load: exit 1, nothing stopped") {
    Interrupted h(Phase::draining);
    h.monitor.open_fails = true;
    REQUIRE(h.drain() == zdd::Outcome::internal);
    CHECK(h.failure == "cannot load the connection monitor: no monitor (fake)");
    CHECK(h.runner->running.count(Color::blue) == 1);
}
