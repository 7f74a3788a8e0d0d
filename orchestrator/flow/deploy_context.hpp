// What every zdd command that changes the host shares: the configuration, the state and its
// store, nginx and the upstream file, the instance runner, the token, the progress lines on
// stderr, and the steps deploy, rollback and drain have in common (start a color, stop it,
// point nginx at a set of colors and confirm it).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "core/color.hpp"
#include "core/config.hpp"
#include "core/outcome.hpp"
#include "flow/deploy_metrics.hpp"
#include "flow/monitor_factory.hpp"
#include "nginx/nginx_controller.hpp"
#include "nginx/nginx_upstream.hpp"
#include "runner/health_checker.hpp"
#include "runner/instance_runner.hpp"
#include "runner/port_probe.hpp"
#include "state/release_store.hpp"
#include "state/state_repository.hpp"
#include "state/state_store.hpp"
#include "state/token.hpp"

namespace zdd {

// The token for /health/deployment and the instances. Throws Failure(Outcome::token).
Secret load_token_or_fail(const Config& cfg);
std::unique_ptr<InstanceRunner> make_runner(const Config& cfg);
NginxOptions nginx_options(const Config& cfg);

// The deploy lock of the store, or a Failure (Outcome::locked, Outcome::state).
std::unique_ptr<HeldLock> acquire_deploy_lock(const StateRepository& store);

// What a Context acts through (host_parts.hpp builds the real ones; tests pass fakes).
struct ContextParts {
    std::unique_ptr<StateRepository> store;
    std::unique_ptr<NginxController> nginx;
    std::unique_ptr<InstanceRunner> runner;
    std::unique_ptr<PortProbe> ports;
    std::unique_ptr<HealthChecker> health;
    std::unique_ptr<MonitorFactory> monitors;
};

class Context {
  private:
    ContextParts parts_;  // first: the references below point into it

  public:
    Context(const Config& cfg, std::ostream& err, ContextParts parts);

    const Config& cfg;
    std::ostream& err;
    StateRepository& store;
    ReleaseStore releases;
    NginxController& nginx;  // the upstream file and the nginx that runs it
    DeployMetrics metrics;   // --metrics-textfile (disabled without it)
    std::unique_ptr<InstanceRunner> runner;
    PortProbe& ports;
    HealthChecker& health;
    MonitorFactory& monitors;
    State state;
    Secret token;

    uint16_t port(Color c) const { return port_of(c, cfg.ports); }
    std::string deployment_url(Color c) const;  // http://HOST:PORT/health/deployment

    void info(const std::string& msg) const;  // "[INFO] msg" on stderr
    void warn(const std::string& msg) const;
    // Loads state.json; Failure(Outcome::state) when corrupt.
    void load();
    // load(), then state.json brought in line with what nginx serves (nginx_truth.hpp), saved
    // and warned about when they disagreed.
    void load_reconciled();
    // Writes state.json; Failure(Outcome::state) when it cannot.
    void save();
    // Records the phase with its time, saves, and prints the step's line.
    void enter(Phase p, const std::string& line);

    // The recorded instance of c as a process (pid 0 when unknown).
    ProcessRef process(Color c) const;
    // True when c's instance runs: its recorded process (or, with no pid recorded, something
    // listening on its port).
    bool running(Color c);

    // Starts c from `binary` on its port, records it (pid, start time, release). Throws
    // Failure(Outcome::start) when the port is busy or the start fails.
    void start(Color c, const std::filesystem::path& binary, const std::vector<std::string>& args);
    // SIGTERM (streams finish), then SIGINT and SIGKILL if it will not exit within the bounds.
    // Returns a one-line account; Failure(Outcome::stop_failed) if it survives SIGKILL. stop() and
    // cut() refuse (Failure(Outcome::state)) a color nginx's upstream file lists: zdd never stops
    // the color nginx serves.
    std::string stop(Color c, std::chrono::milliseconds term_wait);
    // SIGINT (streams cancelled cleanly), SIGKILL after `grace`.
    std::string cut(Color c, std::chrono::milliseconds grace);

    // The upstream with the given colors and weights (in order).
    Upstream upstream_for(const std::vector<std::pair<Color, int>>& servers) const;
    // Writes it, nginx -t, reload, confirm; restores the previous file on failure and throws
    // Failure(Outcome::nginx_test | Outcome::nginx_reload).
    void apply(const Upstream& u);
    // nginx sends everything to `c` alone (apply), then state and the status file say so.
    void serve_alone(Color c);
    // Records `c` as active (saved) and writes the status file (a failure there only warns).
    void record_active(Color c);
    // With --probe-url: asks nginx (with the token) until deploymentColor is `want`, bounded.
    // Returns "" on success (or without a probe URL), else what it saw.
    std::string probe(Color want);

  private:
    void refuse_if_served(Color c, const char* what) const;
    void forget_pid(Color c);
    ProcessRef signal_target(Color c);
};

// Runs `body` (a command holding the lock) and records its outcome, returned or thrown as a
// Failure, in ctx's metrics.
Outcome recording_result(Context& ctx, const std::function<Outcome()>& body);

// "1m 5s"
std::string human_duration(double seconds);

}  // namespace zdd
