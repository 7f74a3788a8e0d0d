#include "flow/status.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "gate/app_report.hpp"
#include "flow/deploy_context.hpp"
#include "flow/drain_command.hpp"
#include "flow/host_parts.hpp"
#include "flow/nginx_truth.hpp"
#include "gate/drain_gate.hpp"
#include "runner/instance_runner.hpp"
#include "runner/port_owner.hpp"
#include "state/state_store.hpp"

namespace zdd {

using nlohmann::json;

int lock_holder(const std::string& state_dir) {
    struct stat st {};
    const std::string lock = state_dir + "/deploy.lock";
    if (::stat(lock.c_str(), &st) != 0) return 0;
    // /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (no side effect on the
    // lock, unlike trying to take it).
    std::ifstream f("/proc/locks");
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream in(line);
        std::string id, type, mode, rw, dev;
        long pid = 0;
        if (!(in >> id >> type)) continue;
        if (type == "->") in >> type;  // a blocked waiter
        if (!(in >> mode >> rw >> pid >> dev)) continue;
        if (type != "FLOCK") continue;
        auto colon = dev.rfind(':');
        if (colon == std::string::npos) continue;
        if (std::stoull(dev.substr(colon + 1)) == st.st_ino) return static_cast<int>(pid);
    }
    return 0;
}

json status_json(const Config& cfg, bool live) {
    Context ctx(cfg, std::cerr, host_parts(cfg));
    return status_json(ctx, live);
}

json status_json(Context& ctx, bool live) {
    const Config& cfg = ctx.cfg;
    ctx.load();
    // In memory only: status changes nothing, but reports what nginx serves.
    const std::string nginx_note = reconcile_with_nginx(ctx);
    const State& s = ctx.state;
    const double now = unix_now();
    json out;
    out["active"] = s.active ? json(to_string(*s.active)) : json(nullptr);
    out["active_port"] = s.active ? json(ctx.port(*s.active)) : json(nullptr);
    out["draining"] = s.draining ? json(to_string(*s.draining)) : json(nullptr);
    out["state_file"] = ctx.store.state_file().string();
    json colors = json::object();
    for (Color c : kColors) {
        json j;
        j["port"] = ctx.port(c);
        auto it = s.instances.find(c);
        const bool running = ctx.running(c);
        j["running"] = running;
        j["pid"] = it != s.instances.end() ? it->second.pid : 0;
        j["version"] = it != s.instances.end() ? it->second.version : "";
        j["release"] = it != s.instances.end() ? it->second.release : "";
        j["uptime_seconds"] = (running && it != s.instances.end() && it->second.started_at > 0)
                                  ? json(now - it->second.started_at)
                                  : json(nullptr);
        colors[to_string(c)] = j;
    }
    out["colors"] = colors;

    const int holder = lock_holder(cfg.state_dir);
    out["zdd_pid"] = holder;
    if (s.deploy) {
        json d;
        d["to"] = to_string(s.deploy->to);
        d["from"] = s.deploy->from ? json(to_string(*s.deploy->from)) : json(nullptr);
        auto ph = s.deploy->phase();
        d["phase"] = ph ? json(to_string(*ph)) : json(nullptr);
        json phases = json::array();
        for (const auto& p : s.deploy->phases)
            phases.push_back({{"phase", to_string(p.phase)}, {"at", p.at}});
        d["phases"] = phases;
        const bool finished = ph == Phase::done;
        d["in_progress"] = !finished && holder > 0;
        d["interrupted"] = !finished && holder == 0;
        out["deploy"] = d;
    } else {
        out["deploy"] = nullptr;
    }
    out["last_error"] = s.last_error;
    out["state_note"] = nginx_note;

    // Workers earlier reloads left shutting down hold the old color's streams.
    json nw;
    try {
        json list = json::array();
        auto workers = ctx.nginx.shutting_down_workers();
        for (const auto& w : workers) list.push_back({{"pid", w.pid}, {"age_seconds", w.age_s}});
        nw["count"] = workers.size();
        nw["oldest_age_seconds"] = workers.empty() ? 0.0 : workers.front().age_s;
        nw["workers"] = list;
    } catch (const std::exception& e) {
        nw["note"] = e.what();
    }
    out["nginx_workers_shutting_down"] = nw;

    std::string hint;
    if (s.draining && holder == 0)
        hint = to_string(*s.draining) +
               " is still draining and no zdd is running: finish with "
               "`zdd drain --color " +
               to_string(*s.draining) + "` (or `zdd rollback`)";
    else if (s.deploy && s.deploy->phase() && s.deploy->phase() != Phase::done && holder == 0)
        hint =
            "the deploy of " + to_string(s.deploy->to) + " stopped in phase " +
            to_string(*s.deploy->phase()) +
            (candidate_never_served(s)
                 ? " before it took traffic: " + to_string(*s.active) +
                       " still serves; deploy again, or `zdd rollback` to stop the leftover " +
                       to_string(s.deploy->to) + " (traffic stays on " + to_string(*s.active) + ")"
                 : ": `zdd drain` finishes it, `zdd rollback` goes back");
    out["hint"] = hint;

    if (live && s.draining) {
        const Color c = *s.draining;
        json dr;
        dr["color"] = to_string(c);
        dr["port"] = ctx.port(c);
        std::optional<drainmon::AppReport> app;
        std::vector<std::pair<drainmon::Endpoint, drainmon::Endpoint>> exclude;
        try {
            ctx.token = load_token(cfg.token_file).token;
            drainmon::AppReportClient client(ctx.deployment_url(c), ctx.token.reveal());
            auto p = client.poll();
            if (p.connection) exclude.push_back(*p.connection);
            if (p.outcome == drainmon::AppOutcome::Report)
                app = p.report;
            else
                dr["app_note"] = p.reason;
        } catch (const std::exception& e) {
            dr["app_note"] = std::string("no app report: ") + e.what();
        }
        try {
            drainmon::BackendOptions bo;
            std::string note;
            auto b = ctx.monitors.open(bo, &note);
            auto snap = b->snapshot({ctx.port(c)}, exclude);
            auto v = drainmon::evaluate_gate(app, snap, ctx.port(c), gate_policy(cfg));
            dr["backend"] = b->name();
            dr["connections"] = v.figures.connections;
            dr["requests"] = v.figures.requests;
            dr["streams"] = v.figures.streams;
            dr["active"] = v.figures.active;
            dr["idle"] = v.figures.idle;
            dr["stuck"] = v.figures.stuck;
            dr["ignored"] = v.figures.ignored;
            json ignored = json::array();
            for (const auto& s : v.ignored) ignored.push_back(drainmon::describe_socket(s));
            dr["ignored_connections"] = ignored;
            dr["gate"] = drainmon::gate_state_name(v.state);
            dr["reason"] = v.reason;
        } catch (const std::exception& e) {
            dr["monitor_note"] = e.what();
        }
        out["drain"] = dr;
    }
    return out;
}

std::string status_text(const json& st) {
    std::ostringstream o;
    auto str = [](const json& j) { return j.is_string() ? j.get<std::string>() : std::string(); };
    if (st["active"].is_null())
        o << "active: none (no deploy yet)\n";
    else
        o << "active: " << str(st["active"]) << " (port " << st["active_port"] << ")\n";
    for (const auto& name : {"blue", "green"}) {
        const json& c = st["colors"][name];
        o << name << ": port " << c["port"] << ", "
          << (c["running"].get<bool>() ? "running" : "stopped");
        if (c["pid"].get<int>() > 0) o << ", pid " << c["pid"];
        if (!str(c["version"]).empty()) o << ", version " << str(c["version"]);
        if (c["uptime_seconds"].is_number())
            o << ", uptime " << human_duration(c["uptime_seconds"].get<double>());
        o << "\n";
    }
    if (st["deploy"].is_object()) {
        const json& d = st["deploy"];
        o << "deploy: " << (d["from"].is_null() ? "(first)" : str(d["from"])) << " -> "
          << str(d["to"]) << ", phase " << str(d["phase"]);
        if (d["in_progress"].get<bool>()) o << " (in progress, zdd pid " << st["zdd_pid"] << ")";
        if (d["interrupted"].get<bool>()) o << " (zdd is not running)";
        o << "\n  phases:";
        for (const auto& p : d["phases"]) o << " " << str(p["phase"]);
        o << "\n";
    }
    if (st.contains("drain")) {
        const json& dr = st["drain"];
        o << "draining: " << str(dr["color"]) << " on port " << dr["port"];
        if (dr.contains("connections"))
            o << ": Connections: " << dr["connections"] << ", Requests: "
              << (dr["requests"].get<int64_t>() < 0 ? "n/a" : dr["requests"].dump())
              << ", Streams: " << (dr["streams"].get<int64_t>() < 0 ? "n/a" : dr["streams"].dump())
              << " (Active: " << dr["active"] << ", Idle: " << dr["idle"]
              << ", Stuck: " << dr["stuck"] << ") - " << str(dr["reason"]);
        if (dr.contains("app_note")) o << " [" << str(dr["app_note"]) << "]";
        if (dr.contains("monitor_note")) o << " [monitor: " << str(dr["monitor_note"]) << "]";
        o << "\n";
    }
    if (st.contains("nginx_workers_shutting_down")) {
        const json& nw = st["nginx_workers_shutting_down"];
        if (nw.contains("note")) {
            o << "nginx workers shutting down: unknown (" << str(nw["note"]) << ")\n";
        } else if (nw["count"].get<int64_t>() == 0) {
            o << "nginx workers shutting down: none\n";
        } else {
            o << "nginx workers shutting down: " << nw["count"] << " (oldest "
              << human_duration(nw["oldest_age_seconds"].get<double>()) << "; pids";
            for (const auto& w : nw["workers"]) o << " " << w["pid"];
            o << ")\n";
        }
    }
    if (!str(st["last_error"]).empty()) o << "last error: " << str(st["last_error"]) << "\n";
    if (!str(st["state_note"]).empty()) o << "note: " << str(st["state_note"]) << "\n";
    if (!str(st["hint"]).empty()) o << "hint: " << str(st["hint"]) << "\n";
    return o.str();
}

Outcome run_status(const Config& cfg, bool as_json, std::ostream& out) {
    json st = status_json(cfg, true);
    if (as_json)
        out << st.dump(2) << "\n";
    else
        out << status_text(st);
    return Outcome::ok;
}

}  // namespace zdd
