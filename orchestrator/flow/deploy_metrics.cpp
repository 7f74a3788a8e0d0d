#include "flow/deploy_metrics.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>

#include "core/exit_codes.hpp"
#include "render/prometheus_text.hpp"
#include "state/atomic_file.hpp"

namespace zdd {

namespace {

constexpr const char* kLastCode = "zdd_deploy_last_exit_code";

// The last exit code a previous zdd wrote, so a new run keeps the series until it has its own.
std::optional<int> read_last_code(const std::string& path) {
    try {
        auto text = read_file_if_exists(path, 1 << 20);
        if (!text) return std::nullopt;
        std::istringstream in(*text);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind(kLastCode, 0) != 0) continue;
            auto sp = line.rfind(' ');
            int v = 0;
            auto [p, ec] = std::from_chars(line.data() + sp + 1, line.data() + line.size(), v);
            if (ec == std::errc()) return v;
        }
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

}  // namespace

DeployMetrics::DeployMetrics(std::string path, std::string service, const NginxController& nginx)
    : path_(std::move(path)), service_(std::move(service)), nginx_(nginx) {
    if (enabled()) last_code_ = read_last_code(path_);
}

void DeployMetrics::on_phase(const State& s) {
    if (!enabled()) return;
    phase_ = s.deploy ? s.deploy->phase() : std::nullopt;
    start_time_ = s.deploy && !s.deploy->phases.empty() ? s.deploy->phases.front().at : 0;
    if (phase_ != Phase::draining && phase_ != Phase::stopping) {
        drain_color_.reset();
        drain_s_ = 0;
        figures_ = {};
    }
    if (phase_ == Phase::starting) cut_ = 0;
    write();
}

void DeployMetrics::on_drain(Color c, double seconds, const drainmon::GateFigures& f) {
    if (!enabled()) return;
    drain_color_ = c;
    drain_s_ = seconds;
    figures_ = f;
    write();
}

void DeployMetrics::on_cut(int64_t connections) {
    if (!enabled()) return;
    cut_ = connections;
    write();
}

void DeployMetrics::on_result(Outcome outcome, const State& s) {
    if (!enabled()) return;
    last_code_ = exit_code(outcome);  // the number the CLI exits with
    on_phase(s);
}

std::string DeployMetrics::render() const {
    std::ostringstream o;
    const std::string svc = "service=\"" + drainmon::escape_label_value(service_) + "\"";
    auto family = [&](const char* name, const char* help) {
        o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n";
    };
    family("zdd_deploy_phase", "1 for the phase the current or last deploy is in, else 0.");
    for (int i = 0; i <= static_cast<int>(Phase::done); ++i) {
        const auto p = static_cast<Phase>(i);
        o << "zdd_deploy_phase{" << svc << ",phase=\"" << to_string(p) << "\"} "
          << (phase_ == p ? 1 : 0) << "\n";
    }
    family("zdd_deploy_start_time_seconds", "Unix time the current or last deploy started.");
    o << "zdd_deploy_start_time_seconds{" << svc << "} " << std::fixed << start_time_ << "\n";
    o.unsetf(std::ios::fixed);
    const std::string dc =
        svc + ",color=\"" + (drain_color_ ? to_string(*drain_color_) : std::string()) + "\"";
    family("zdd_deploy_drain_seconds", "Seconds the drain in progress has lasted (0: none).");
    o << "zdd_deploy_drain_seconds{" << dc << "} " << drain_s_ << "\n";
    family("zdd_deploy_drain_connections",
           "Connections on the draining color by class, as the drain gate last saw them.");
    o << "zdd_deploy_drain_connections{" << dc << ",class=\"active\"} " << figures_.active << "\n"
      << "zdd_deploy_drain_connections{" << dc << ",class=\"idle\"} " << figures_.idle << "\n"
      << "zdd_deploy_drain_connections{" << dc << ",class=\"stuck\"} " << figures_.stuck << "\n";
    family("zdd_deploy_drain_handed_off_streams",
           "Streams the draining color handed over at a message boundary (--handoff), as the "
           "app last reported (0: none, or no handoff).");
    o << "zdd_deploy_drain_handed_off_streams{" << dc << "} "
      << std::max<int64_t>(0, figures_.handed_off) << "\n";
    family("zdd_deploy_connections_cut",
           "Connections the drain timeout cut in the current or last deploy.");
    o << "zdd_deploy_connections_cut{" << svc << "} " << cut_ << "\n";
    if (last_code_) {
        family(kLastCode, "Exit code of the last zdd deploy, rollback or drain (0: success).");
        o << kLastCode << "{" << svc << "} " << *last_code_ << "\n";
    }
    std::vector<ShuttingDownWorker> workers;
    bool nginx_ok = true;
    try {
        workers = nginx_.shutting_down_workers();
    } catch (const std::exception&) {
        nginx_ok = false;
    }
    if (nginx_ok) {
        family("zdd_nginx_workers_shutting_down",
               "nginx workers left by earlier reloads that still hold connections.");
        o << "zdd_nginx_workers_shutting_down{" << svc << "} " << workers.size() << "\n";
        family("zdd_nginx_oldest_shutting_down_worker_age_seconds",
               "Age of the oldest nginx worker still shutting down (0: none).");
        o << "zdd_nginx_oldest_shutting_down_worker_age_seconds{" << svc << "} "
          << (workers.empty() ? 0.0 : workers.front().age_s) << "\n";
    }
    return o.str();
}

void DeployMetrics::write() {
    const std::filesystem::path p(path_);
    try {
        drainmon::write_textfile_atomic(p.parent_path().empty() ? "." : p.parent_path().string(),
                                        p.filename().string(), render());
    } catch (const std::exception&) {
        // Metrics never stop a deploy; a missing file is visible to whoever scrapes it.
    }
}

}  // namespace zdd
