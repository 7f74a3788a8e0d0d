#include "flow/deploy_context.hpp"

#include <signal.h>

#include <cmath>
#include <iostream>
#include <thread>

#include "common/logging.hpp"
#include "flow/nginx_truth.hpp"
#include "gate/app_report.hpp"
#include "gate/http_client.hpp"
#include "state/env_file.hpp"

namespace zdd {

using namespace std::chrono_literals;

Secret load_token_or_fail(const Config& cfg) {
    try {
        return load_token(cfg.token_file).token;
    } catch (const TokenError& e) {
        throw Failure(Outcome::token, e.what());
    }
}

std::unique_ptr<InstanceRunner> make_runner(const Config& cfg) {
    if (cfg.runner == "systemd")
        return std::make_unique<SystemdRunner>(cfg.systemctl, cfg.service, cfg.state_dir);
    return std::make_unique<ExecRunner>();
}

NginxOptions nginx_options(const Config& cfg) {
    NginxOptions o;
    o.bin = cfg.nginx_bin;
    o.conf = cfg.nginx_conf;
    o.prefix = cfg.nginx_prefix;
    o.pid_file = cfg.nginx_pid_file;
    return o;
}

std::string human_duration(double seconds) {
    auto s = static_cast<int64_t>(std::floor(std::max(0.0, seconds)));
    std::string out;
    if (s >= 86400) out += std::to_string(s / 86400) + "d ";
    if (s >= 3600) out += std::to_string(s / 3600 % 24) + "h ";
    out += std::to_string(s / 60 % 60) + "m " + std::to_string(s % 60) + "s";
    return out;
}

Context::Context(const Config& c, std::ostream& e, ContextParts parts)
    : parts_(std::move(parts)),
      cfg(c),
      err(e),
      store(*parts_.store),
      releases(c.state_dir),
      nginx(*parts_.nginx),
      metrics(c.metrics_textfile, c.service, nginx),
      runner(std::move(parts_.runner)),
      ports(*parts_.ports),
      health(*parts_.health),
      monitors(*parts_.monitors) {}

Outcome recording_result(Context& ctx, const std::function<Outcome()>& body) {
    try {
        const Outcome code = body();
        ctx.metrics.on_result(code, ctx.state);
        return code;
    } catch (const Failure& f) {
        ctx.metrics.on_result(f.outcome, ctx.state);
        throw;
    }
}

std::string Context::deployment_url(Color c) const {
    return drainmon::http_url(cfg.host, port(c), "/health/deployment");
}

void Context::info(const std::string& msg) const {
    drainmon::logging::write(err, spdlog::level::info, msg);
}
void Context::warn(const std::string& msg) const {
    drainmon::logging::write(err, spdlog::level::warn, msg);
}

void Context::load() {
    try {
        state = store.load();
    } catch (const StateError& e) {
        throw Failure(Outcome::state, e.what());
    }
}

void Context::load_reconciled() {
    load();
    if (std::string note = reconcile_with_nginx(*this); !note.empty()) {
        warn(note);
        save();
    }
}

void Context::refuse_if_served(Color c, const char* what) const {
    auto listed = served_colors(*this);
    if (listed && listed->count(c))
        throw Failure(Outcome::state,
                      std::string("refusing to ") + what + " " + to_string(c) + ": " +
                          "nginx still sends it traffic through " + nginx.upstream_path().string() +
                          " (zdd never stops the color nginx serves); see `zdd status`");
}

void Context::save() {
    try {
        store.save(state);
    } catch (const std::exception& e) {
        throw Failure(Outcome::state, std::string("cannot write state: ") + e.what());
    }
}

void Context::enter(Phase p, const std::string& line) {
    state.enter_phase(p);
    save();
    metrics.on_phase(state);
    info(line);
}

ProcessRef Context::process(Color c) const {
    auto it = state.instances.find(c);
    if (it == state.instances.end()) return {};
    return ProcessRef{it->second.pid, it->second.pid_start_time};
}

bool Context::running(Color c) {
    ProcessRef p = process(c);
    if (p.pid > 0) return runner->alive(c, p);
    if (cfg.runner == "systemd") return runner->alive(c, p);
    return ports.listening(port(c));
}

ProcessRef Context::signal_target(Color c) {
    ProcessRef p = process(c);
    if (p.pid > 0 || cfg.runner == "systemd") return p;
    // Adopted from the original script: no pid recorded, find the port's owner.
    if (auto ref = ports.listener(port(c))) return *ref;
    return p;
}

void Context::start(Color c, const std::filesystem::path& release,
                    const std::vector<std::string>& args) {
    // Only a release from the checked releases dir runs (state.json could name anything).
    const std::filesystem::path binary = releases.checked_release(release);
    const uint16_t p = port(c);
    if (ports.listening(p))
        throw Failure(Outcome::start, "port " + std::to_string(p) + " (" + to_string(c) +
                                          ") is busy: something already listens there");
    LaunchSpec spec;
    spec.binary = binary;
    spec.args = args;
    spec.color = c;
    spec.port = p;
    spec.token = token;
    if (!cfg.env_file.empty()) {
        try {
            spec.extra_env = read_env_file(cfg.env_file);
        } catch (const std::exception& e) {
            throw Failure(Outcome::usage, std::string("--env-file: ") + e.what());
        }
    }
    spec.workdir = cfg.workdir;
    spec.run_as = cfg.run_as;
    spec.nofile = cfg.nofile;
    spec.log_file = store.dir() / "logs" / (to_string(c) + ".log");
    spec.log_max_bytes = cfg.log_max_bytes;
    if (cfg.runner == "systemd") releases.link_color(c, binary);
    if (auto w = runner->root_warning(spec)) warn(*w);
    ProcessRef ref;
    try {
        ref = runner->start(spec);
    } catch (const RunnerError& e) {
        throw Failure(Outcome::start,
                      std::string("cannot start ") + to_string(c) + ": " + e.what());
    }
    InstanceRecord rec;
    rec.port = p;
    rec.pid = ref.pid;
    rec.pid_start_time = ref.start_time;
    rec.release = binary.string();
    rec.args = args;
    rec.started_at = unix_now();
    state.instances[c] = rec;
    save();
}

std::unique_ptr<HeldLock> acquire_deploy_lock(const StateRepository& store) {
    try {
        return store.lock();
    } catch (const LockBusy& e) {
        throw Failure(Outcome::locked, e.what());
    } catch (const StateError& e) {
        throw Failure(Outcome::state, e.what());
    }
}

// The instance is gone: its pid must never be signalled again.
void Context::forget_pid(Color c) {
    auto it = state.instances.find(c);
    if (it != state.instances.end()) {
        it->second.pid = 0;
        it->second.pid_start_time = 0;
    }
}

std::string Context::stop(Color c, std::chrono::milliseconds term_wait) {
    ProcessRef p = signal_target(c);
    if ((p.pid <= 0 && cfg.runner != "systemd") || !runner->alive(c, p)) {
        forget_pid(c);
        return to_string(c) + " was not running";
    }
    refuse_if_served(c, "stop");
    const std::string who =
        to_string(c) + (p.pid > 0 ? " (pid " + std::to_string(p.pid) + ")" : "");
    runner->signal(c, p, SIGTERM);
    if (runner->wait_exit(c, p, term_wait)) {
        forget_pid(c);
        return who + " exited after SIGTERM";
    }
    warn(who + " still runs " + human_duration(term_wait.count() / 1000.0) +
         " after SIGTERM: sending SIGINT");
    runner->signal(c, p, SIGINT);
    if (runner->wait_exit(c, p, 5s)) {
        forget_pid(c);
        return who + " exited after SIGINT";
    }
    runner->signal(c, p, SIGKILL);
    if (runner->wait_exit(c, p, 5s)) {
        forget_pid(c);
        return who + " killed (SIGKILL)";
    }
    throw Failure(Outcome::stop_failed, who + " survived SIGKILL");
}

std::string Context::cut(Color c, std::chrono::milliseconds grace) {
    ProcessRef p = signal_target(c);
    if ((p.pid <= 0 && cfg.runner != "systemd") || !runner->alive(c, p)) {
        forget_pid(c);
        return to_string(c) + " had already exited";
    }
    refuse_if_served(c, "cut");
    const std::string who =
        to_string(c) + (p.pid > 0 ? " (pid " + std::to_string(p.pid) + ")" : "");
    runner->signal(c, p, SIGINT);
    if (runner->wait_exit(c, p, grace)) {
        forget_pid(c);
        return who + " exited after SIGINT (streams cancelled)";
    }
    runner->signal(c, p, SIGKILL);
    if (runner->wait_exit(c, p, 5s)) {
        forget_pid(c);
        return who + " killed (SIGKILL) " + human_duration(grace.count() / 1000.0) +
               " after SIGINT";
    }
    throw Failure(Outcome::stop_failed, who + " survived SIGKILL");
}

Upstream Context::upstream_for(const std::vector<std::pair<Color, int>>& servers) const {
    Upstream u;
    u.name = cfg.upstream_name;
    u.keepalive = cfg.upstream_keepalive;
    for (auto [c, w] : servers) u.servers.push_back(UpstreamServer{cfg.host, port(c), w, {}});
    return u;
}

void Context::apply(const Upstream& u) {
    try {
        nginx.apply(u);
    } catch (const NginxError& e) {
        const bool test = e.kind == NginxError::Kind::test_failed;
        throw Failure(test ? Outcome::nginx_test : Outcome::nginx_reload,
                      std::string(test ? "nginx -t failed: " : "nginx reload failed: ") + e.what() +
                          " (restored " + nginx.upstream_path().string() + ")");
    } catch (const std::exception& e) {
        throw Failure(Outcome::nginx_reload,
                      "cannot update " + nginx.upstream_path().string() + ": " + e.what());
    }
}

void Context::serve_alone(Color c) {
    apply(upstream_for({{c, 100}}));
    record_active(c);
}

void Context::record_active(Color c) {
    state.active = c;
    save();
    try {
        write_status_file(cfg.status_file, c);
    } catch (const std::exception& e) {
        warn(std::string("cannot write the status file: ") + e.what());
    }
}

std::string Context::probe(Color want) {
    if (cfg.probe_url.empty()) return "";
    drainmon::AppReportClient client(cfg.probe_url, token.reveal());
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string seen;
    for (;;) {
        auto p = client.poll();
        if (p.outcome == drainmon::AppOutcome::Report) {
            if (p.report.deployment_color == to_string(want)) return "";
            seen = "answered by " + p.report.deployment_color;
        } else {
            seen = p.reason;
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return "probe " + cfg.probe_url + " never answered with " + to_string(want) +
                   " within 10s (last: " + seen + ")";
        std::this_thread::sleep_for(200ms);
    }
}

}  // namespace zdd
