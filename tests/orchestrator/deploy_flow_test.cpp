// zdd deploy's flow (flow/deploy.cpp, steps 1-6 and the drain) on fakes: every branch with its
// exit code, the nginx writes in order, the state's phases, and when the old color is stopped.
#include <signal.h>

#include <catch2/catch.hpp>

#include "fakes/flow_harness.hpp"
#include "flow/deploy.hpp"

using zdd::Color;
using zdd::Phase;
using zdd_fake::FakeNginx;
using zdd_fake::FlowHarness;
using Lines = std::vector<std::string>;

namespace {

// Blue serves release v1; green gets deployed from "v2".
struct BlueServes : FlowHarness {
    BlueServes() { serving(Color::blue, release("v1"), "1.0"); }
    zdd::Outcome deploy() {
        const auto bin = binary("v2");
        return outcome([&] { return zdd::run_deploy(*ctx, bin, {"--flag"}); });
    }
    std::string watch_blue() const { return "monitor watch " + std::to_string(port(Color::blue)); }
};

const std::vector<Phase> kFullSwitch{Phase::starting,     Phase::health_check, Phase::shifting,
                                     Phase::removing_old, Phase::draining,     Phase::stopping,
                                     Phase::done};

}  // namespace

TEST_CASE("first deploy: blue starts and serves alone, nothing drains") {
    FlowHarness h;
    const auto bin = h.binary("v1");
    REQUIRE(h.outcome([&] { return zdd::run_deploy(*h.ctx, bin, {}); }) == zdd::Outcome::ok);
    CHECK(h.journal.lines == Lines{"start blue", "nginx blue:100"});
    CHECK(h.phases() ==
          std::vector<Phase>{Phase::starting, Phase::health_check, Phase::shifting, Phase::done});
    CHECK(h.store->current.active == Color::blue);
    CHECK(h.store->current.instances.at(Color::blue).version == "2.0");
    CHECK(h.monitor.opened == 0);
    CHECK(zdd::read_status_file(h.cfg.status_file) == Color::blue);
    CHECK(h.store->locks_taken == 1);
    CHECK(h.store->locks_held == 0);
}

TEST_CASE("normal switch: 100:1, then the old color removed, drained, and only then stopped") {
    BlueServes h;
    h.monitor.connections = {2, 2, 1, 1, 0};
    std::vector<bool> blue_alive_at_reads;
    h.monitor.on_count = [&](int) {
        blue_alive_at_reads.push_back(h.runner->running.count(Color::blue));
    };

    REQUIRE(h.deploy() == zdd::Outcome::ok);
    CHECK(h.journal.lines == Lines{"start green", h.watch_blue(), "nginx green:100 blue:1",
                                   "nginx green:100", "signal blue SIGTERM"});
    REQUIRE(h.nginx->applied.size() == 2);
    CHECK(h.nginx->applied[0].servers[0].port == h.port(Color::green));
    CHECK(h.nginx->applied[0].servers[0].weight == 100);
    CHECK(h.nginx->applied[0].servers[1].port == h.port(Color::blue));
    CHECK(h.nginx->applied[0].servers[1].weight == 1);
    // The drain read the counts down to zero with blue still running at every read.
    REQUIRE(blue_alive_at_reads.size() >= 5);
    CHECK(std::all_of(blue_alive_at_reads.begin(), blue_alive_at_reads.end(),
                      [](bool b) { return b; }));
    CHECK(h.phases() == kFullSwitch);
    const auto& s = h.store->current;
    CHECK(s.active == Color::green);
    CHECK_FALSE(s.draining);
    CHECK(s.last_error.empty());
    CHECK(s.instances.at(Color::blue).pid == 0);  // stopped: never signalled again
    CHECK(h.runner->starts.at(0).args == std::vector<std::string>{"--flag"});
    CHECK(h.runner->starts.at(0).port == h.port(Color::green));
    CHECK(h.err.str().find("[INFO] blue drained after") != std::string::npos);
}

TEST_CASE("health check failure: the new color is stopped, nginx untouched") {
    BlueServes h;
    h.health->result.ok = false;
    h.health->result.last_failure = "health check failed after 5.0s (25 attempts): HTTP 503";
    REQUIRE(h.deploy() == zdd::Outcome::health);
    CHECK(h.journal.lines == Lines{"start green", "signal green SIGTERM"});
    CHECK(h.nginx->attempts == 0);
    const auto& s = h.store->current;
    CHECK(s.active == Color::blue);
    CHECK(s.instances.count(Color::green) == 0);  // a rollback never goes to it
    CHECK(s.last_error.find("HTTP 503") != std::string::npos);
    CHECK(h.phases() == std::vector<Phase>{Phase::starting, Phase::health_check});
    CHECK(h.runner->running.count(Color::blue) == 1);
}

TEST_CASE("the new color exits during its health check: exit 8, stopped record dropped") {
    BlueServes h;
    h.health->result.ok = false;
    h.health->result.process_exited = true;
    REQUIRE(h.deploy() == zdd::Outcome::start);
    CHECK(h.failure.find("green exited during its health check") != std::string::npos);
    CHECK(h.nginx->attempts == 0);
    CHECK(h.store->current.instances.count(Color::green) == 0);
}

TEST_CASE("nginx -t or the reload fails at step 3: previous upstream kept, new color stopped") {
    BlueServes h;
    const auto before = h.nginx->text;
    const bool test_fails = GENERATE(true, false);
    h.nginx->failures = {test_fails ? FakeNginx::Fail::test : FakeNginx::Fail::reload};
    REQUIRE(h.deploy() == (test_fails ? zdd::Outcome::nginx_test : zdd::Outcome::nginx_reload));
    CHECK(h.journal.lines == Lines{"start green", h.watch_blue(), "signal green SIGTERM"});
    CHECK(h.nginx->text == before);
    const auto& s = h.store->current;
    CHECK(s.active == Color::blue);
    CHECK(s.instances.count(Color::green) == 0);
    CHECK(s.last_error.find(test_fails ? "nginx -t failed" : "nginx reload failed") !=
          std::string::npos);
    CHECK(h.phases().back() == Phase::shifting);
}

TEST_CASE("the reload of step 4 fails: traffic already moved, nothing stopped, drain advised") {
    BlueServes h;
    h.nginx->failures = {FakeNginx::Fail::none, FakeNginx::Fail::reload};
    REQUIRE(h.deploy() == zdd::Outcome::nginx_reload);
    CHECK(h.journal.lines == Lines{"start green", h.watch_blue(), "nginx green:100 blue:1"});
    const auto& s = h.store->current;
    CHECK(s.active == Color::green);
    CHECK(h.runner->running.count(Color::blue) == 1);
    CHECK(h.runner->running.count(Color::green) == 1);
    CHECK(s.last_error.find("finish with `zdd drain`") != std::string::npos);
    CHECK(h.phases().back() == Phase::removing_old);
}

TEST_CASE("drain timeout: the old color is cut with SIGINT, exit 3") {
    BlueServes h;
    h.cfg.drain_timeout = 0.3;
    h.monitor.connections = {3};
    REQUIRE(h.deploy() == zdd::Outcome::drain_cut);
    CHECK(h.journal.lines == Lines{"start green", h.watch_blue(), "nginx green:100 blue:1",
                                   "nginx green:100", "signal blue SIGINT"});
    CHECK(h.phases() == kFullSwitch);
    const auto& s = h.store->current;
    CHECK(s.active == Color::green);
    CHECK_FALSE(s.draining);
    CHECK(s.last_error.find("drain of blue timed out") != std::string::npos);
    CHECK(s.last_error.find("cut 3 connections") != std::string::npos);
    CHECK(h.err.str().find("[WARN]   cut: 127.0.0.1:" + std::to_string(h.port(Color::blue))) !=
          std::string::npos);
}

TEST_CASE("DRAIN_TIMEOUT=0 waits as long as connections remain; the counts end it") {
    BlueServes h;
    h.cfg.drain_timeout = 0;
    h.monitor.connections.assign(60, 1);
    h.monitor.connections.push_back(0);
    REQUIRE(h.deploy() == zdd::Outcome::ok);
    CHECK(h.monitor.reads >= 61);
    CHECK(h.journal.lines.back() == "signal blue SIGTERM");
    CHECK(h.err.str().find("timeout none") != std::string::npos);
    CHECK(h.store->current.last_error.empty());
}

TEST_CASE("interrupted in the drain: both colors left running, state says how to finish") {
    BlueServes h;
    h.monitor.connections = {1};
    h.monitor.on_count = [](int i) {
        if (i == 2) ::raise(SIGINT);
    };
    REQUIRE(h.deploy() == zdd::Outcome::interrupted);
    CHECK(h.journal.lines ==
          Lines{"start green", h.watch_blue(), "nginx green:100 blue:1", "nginx green:100"});
    const auto& s = h.store->current;
    CHECK(s.active == Color::green);
    CHECK(s.draining == Color::blue);
    CHECK(h.phases().back() == Phase::draining);
    CHECK(s.last_error.find("interrupted by SIGINT while draining blue") != std::string::npos);
    CHECK(h.runner->running.count(Color::blue) == 1);
}

TEST_CASE("superseded by a rollback in the drain (SIGUSR1): exit 18, nothing touched") {
    BlueServes h;
    h.monitor.connections = {1};
    h.monitor.on_count = [](int i) {
        if (i == 1) ::raise(zdd::kStandDownSignal);
    };
    REQUIRE(h.deploy() == zdd::Outcome::superseded);
    CHECK(h.journal.lines.back() == "nginx green:100");
    const auto& s = h.store->current;
    CHECK(s.draining == Color::blue);
    CHECK(s.last_error == "stood down while draining blue: superseded by a rollback");
    CHECK(h.runner->running.count(Color::blue) == 1);
}

TEST_CASE("the new color dies while the old one drains: the old one serves again, exit 17") {
    BlueServes h;
    h.monitor.connections = {1};
    h.monitor.on_count = [&](int i) {
        if (i == 1) h.runner->running.erase(Color::green);
    };
    REQUIRE(h.deploy() == zdd::Outcome::serving_died);
    CHECK(h.journal.lines == Lines{"start green", h.watch_blue(), "nginx green:100 blue:1",
                                   "nginx green:100", "nginx blue:100"});
    const auto& s = h.store->current;
    CHECK(s.active == Color::blue);
    CHECK_FALSE(s.draining);
    CHECK(s.last_error.find("green died while blue was draining") != std::string::npos);
}

TEST_CASE("canary fails during --shift-hold: old color alone again, canary drained and stopped") {
    BlueServes h;
    h.cfg.shift_hold = 30;
    h.health->probe_result.ok = false;
    h.health->probe_result.reason = "HTTP 500";
    REQUIRE(h.deploy() == zdd::Outcome::canary_failed);
    CHECK(h.journal.lines == Lines{"start green", h.watch_blue(), "nginx green:100 blue:1",
                                   "monitor watch " + std::to_string(h.port(Color::green)),
                                   "nginx blue:100", "signal green SIGTERM"});
    const auto& s = h.store->current;
    CHECK(s.active == Color::blue);
    CHECK(s.instances.count(Color::green) == 0);
    CHECK(s.last_error.find("canary green failed during the hold: green's /health: HTTP 500") == 0);
    CHECK(h.runner->running.count(Color::blue) == 1);
}

TEST_CASE("canary whose process exits during --shift-hold: backed out, exit 19") {
    BlueServes h;
    h.cfg.shift_hold = 30;
    // The hold's first /health probe answers ok, but green's process is gone right after it.
    h.health->on_probe = [&] { h.runner->running.erase(Color::green); };
    REQUIRE(h.deploy() == zdd::Outcome::canary_failed);
    CHECK(h.health->probes == 1);  // the next check found the process first
    const auto& s = h.store->current;
    CHECK(s.active == Color::blue);
    CHECK(s.last_error.find("canary green failed during the hold: green's process exited") == 0);
    CHECK(h.runner->running.count(Color::blue) == 1);
}

TEST_CASE("a deploy while a color is still draining is refused (exit 5), nothing started") {
    BlueServes h;
    h.store->current.draining = Color::green;
    REQUIRE(h.deploy() == zdd::Outcome::drain_pending);
    CHECK(h.journal.lines.empty());
}

TEST_CASE("another zdd holds the lock: exit 4, nothing loaded or started") {
    BlueServes h;
    h.store->lock_busy = true;
    REQUIRE(h.deploy() == zdd::Outcome::locked);
    CHECK(h.journal.lines.empty());
    CHECK(h.store->saves.empty());
}

TEST_CASE("a host run by the original script is adopted from its status file and port") {
    FlowHarness h;
    zdd::write_status_file(h.cfg.status_file, Color::green);
    h.ports->listening_ports.insert(h.port(Color::green));
    const auto adopted = h.runner->run(Color::green);
    h.ports->owners[h.port(Color::green)] = adopted;
    const auto bin = h.binary("v2");
    REQUIRE(h.outcome([&] { return zdd::run_deploy(*h.ctx, bin, {}); }) == zdd::Outcome::ok);
    CHECK(h.journal.lines ==
          Lines{"start blue", "monitor watch " + std::to_string(h.port(Color::green)),
                "nginx blue:100 green:1", "nginx blue:100", "signal green SIGTERM"});
    CHECK(h.err.str().find("adopting the running green on port " +
                           std::to_string(h.port(Color::green)) + " (pid " +
                           std::to_string(adopted.pid) + ")") != std::string::npos);
    CHECK(h.store->current.active == Color::blue);
}
