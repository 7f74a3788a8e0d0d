// zdd status (flow/status.cpp) on fakes: the JSON and the text for no deploy, each phase of an
// interrupted deploy with its hint, a deploy in progress (a real lock held in the state dir),
// and a draining color's live figures from the monitor.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "fakes/flow_harness.hpp"
#include "flow/status.hpp"

using nlohmann::json;
using zdd::Color;
using zdd::Phase;
using zdd_fake::FlowHarness;

namespace {

std::string port_s(const FlowHarness& h, Color c) {
    return std::to_string(h.port(c));
}

// A deploy blue -> green recorded up to `at`; green active once traffic moved (shifting on).
void deploy_up_to(FlowHarness& h, Phase at) {
    h.serving(Color::blue, h.release("v1"), "1.0");
    std::vector<zdd::PhaseStamp> ph;
    for (Phase p : {Phase::starting, Phase::health_check, Phase::shifting, Phase::removing_old,
                    Phase::draining, Phase::stopping, Phase::done})
        if (p <= at) ph.push_back({p, 100.0 + static_cast<double>(ph.size())});
    auto& s = h.store->current;
    s.deploy = zdd::DeployRecord{Color::green, Color::blue, ph};
    s.instances[Color::green] = h.instance(Color::green, h.release("v2"), "2.0", true);
    if (at >= Phase::shifting) s.active = Color::green;
    if (at == Phase::draining || at == Phase::stopping) s.draining = Color::blue;
    if (at == Phase::done) {
        s.instances[Color::blue].pid = 0;
        h.runner->running.erase(Color::blue);
    }
}

}  // namespace

TEST_CASE("status before any deploy") {
    FlowHarness h;
    json st = zdd::status_json(*h.ctx, true);
    CHECK(st["active"].is_null());
    CHECK(st["deploy"].is_null());
    CHECK(st["draining"].is_null());
    CHECK(st["colors"]["blue"]["running"] == false);
    CHECK(st["colors"]["green"]["port"] == h.port(Color::green));
    CHECK(st["hint"] == "");
    CHECK_FALSE(st.contains("drain"));
    CHECK(zdd::status_text(st) ==
          "active: none (no deploy yet)\n"
          "blue: port " +
              port_s(h, Color::blue) +
              ", stopped\n"
              "green: port " +
              port_s(h, Color::green) +
              ", stopped\n"
              "nginx workers shutting down: none\n");
    CHECK(h.store->saves.empty());  // status changes nothing
}

TEST_CASE("status of a finished deploy, with nginx workers still shutting down") {
    FlowHarness h;
    deploy_up_to(h, Phase::done);
    h.nginx->workers = {{321, 65.0}};
    json st = zdd::status_json(*h.ctx, true);
    CHECK(st["active"] == "green");
    CHECK(st["deploy"]["phase"] == "done");
    CHECK(st["deploy"]["in_progress"] == false);
    CHECK(st["deploy"]["interrupted"] == false);
    CHECK(st["hint"] == "");
    const std::string text = zdd::status_text(st);
    CHECK(text.find("active: green (port " + port_s(h, Color::green) + ")\n") == 0);
    CHECK(text.find("blue: port " + port_s(h, Color::blue) + ", stopped, version 1.0\n") !=
          std::string::npos);
    CHECK(text.find("deploy: blue -> green, phase done\n  phases: starting health_check shifting "
                    "removing_old draining stopping done\n") != std::string::npos);
    CHECK(text.find("nginx workers shutting down: 1 (oldest 1m 5s; pids 321)\n") !=
          std::string::npos);
}

TEST_CASE("status of a deploy interrupted in each phase: its phase and the way to finish") {
    struct Case {
        Phase at;
        std::string hint_start;
    };
    const std::string never = "the deploy of green stopped in phase ";
    const Case c = GENERATE_COPY(
        Case{Phase::starting,
             "the deploy of green stopped in phase starting before it took "
             "traffic: blue still serves"},
        Case{Phase::health_check,
             "the deploy of green stopped in phase health_check before it "
             "took traffic: blue still serves"},
        Case{Phase::shifting,
             never + "shifting: `zdd drain` finishes it, `zdd rollback` goes back"},
        Case{Phase::removing_old,
             never + "removing_old: `zdd drain` finishes it, `zdd rollback` goes back"},
        Case{Phase::draining,
             "blue is still draining and no zdd is running: finish with `zdd "
             "drain --color blue` (or `zdd rollback`)"},
        Case{Phase::stopping, "blue is still draining and no zdd is running"});
    FlowHarness h;
    deploy_up_to(h, c.at);
    h.monitor.connections = {2};
    json st = zdd::status_json(*h.ctx, true);
    CHECK(st["deploy"]["phase"] == zdd::to_string(c.at));
    CHECK(st["deploy"]["interrupted"] == true);
    CHECK(st["deploy"]["in_progress"] == false);
    CHECK(st["zdd_pid"] == 0);
    CHECK(st["hint"].get<std::string>().rfind(c.hint_start, 0) == 0);
    const std::string text = zdd::status_text(st);
    CHECK(text.find(", phase " + zdd::to_string(c.at) + " (zdd is not running)\n") !=
          std::string::npos);
    CHECK(text.find("hint: " + c.hint_start) != std::string::npos);
    // Only a draining color gets live figures.
    CHECK(st.contains("drain") == (c.at == Phase::draining || c.at == Phase::stopping));
}

TEST_CASE("status of a draining color: the monitor's figures and the app's note") {
    FlowHarness h;
    deploy_up_to(h, Phase::draining);
    h.monitor.connections = {2};
    json st = zdd::status_json(*h.ctx, true);
    const json& dr = st["drain"];
    CHECK(dr["color"] == "blue");
    CHECK(dr["backend"] == "fake");
    CHECK(dr["connections"] == 2);
    CHECK(dr["active"] == 2);
    CHECK(dr["requests"] == -1);
    CHECK(dr["gate"] == "wait");
    CHECK(dr["app_note"].get<std::string>().size() > 0);  // nothing answers on the free port
    const std::string text = zdd::status_text(st);
    CHECK(text.find("draining: blue on port " + port_s(h, Color::blue) +
                    ": Connections: 2, Requests: n/a, Streams: n/a (Active: 2, Idle: 0, Stuck: "
                    "0) - ") != std::string::npos);
    // Without live figures (status_json(..., false)) there is no drain section.
    CHECK_FALSE(zdd::status_json(*h.ctx, false).contains("drain"));
}

TEST_CASE("status while a zdd holds the deploy lock: in progress, with its pid") {
    FlowHarness h;
    deploy_up_to(h, Phase::draining);
    auto lock = zdd::DeployLock::acquire(h.cfg.state_dir);
    json st = zdd::status_json(*h.ctx, false);
    CHECK(st["zdd_pid"] == static_cast<int>(::getpid()));
    CHECK(st["deploy"]["in_progress"] == true);
    CHECK(st["deploy"]["interrupted"] == false);
    CHECK(st["hint"] == "");
    CHECK(zdd::status_text(st).find("phase draining (in progress, zdd pid " +
                                    std::to_string(::getpid()) + ")") != std::string::npos);
}

TEST_CASE("status reports what nginx serves when state.json was left behind a reload") {
    FlowHarness h;
    h.serving(Color::blue, h.release("v1"), "1.0");
    auto& s = h.store->current;
    s.instances[Color::green] = h.instance(Color::green, h.release("v2"), "2.0", true);
    s.deploy = zdd::DeployRecord{Color::green, Color::blue, {{Phase::shifting, 1}}};
    h.nginx->text =
        zdd::render_upstream(h.ctx->upstream_for({{Color::green, 100}, {Color::blue, 1}}));
    json st = zdd::status_json(*h.ctx, false);
    CHECK(st["active"] == "green");
    CHECK(st["draining"] == "blue");
    CHECK(st["state_note"].get<std::string>().find("sends green traffic but state.json said "
                                                   "active blue") != std::string::npos);
    CHECK(h.store->saves.empty());
    // Not when nginx is not known to run the file (written, never reloaded).
    h.nginx->runs_file = false;
    CHECK(zdd::status_json(*h.ctx, false)["active"] == "blue");
}
