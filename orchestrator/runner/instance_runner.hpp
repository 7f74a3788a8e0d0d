// Starting, watching and stopping one color's instance. Runner `exec` forks the release
// itself (detached: own session, logs in the state dir); runner `systemd` drives the units
// <service>-blue / <service>-green through systemctl. A process is identified by (pid, start
// time) so a pid reused by an unrelated process is never signalled.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/color.hpp"
#include "state/env_file.hpp"
#include "state/token.hpp"

namespace zdd {

struct RunnerError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ProcessRef {
    pid_t pid = 0;
    uint64_t start_time = 0;  // /proc/<pid>/stat field 22
};

// Identity of a running process now; nullopt if it does not exist or is a zombie.
std::optional<ProcessRef> process_ref(pid_t pid);
// True while the very process (same start time) runs. A zombie child of ours is reaped here.
bool alive(const ProcessRef& p);
// Sends sig only if the pid still belongs to the same process (pidfd, no reuse race).
// Signals the pid only, not its process group. Returns false if the process is gone.
bool signal_process(const ProcessRef& p, int sig);
// Waits up to `bound` for the process to exit. nullopt: still running at the bound. Otherwise
// its exit status (exit code, or 128+signal) if it was our child and we reaped it, else -1.
std::optional<int> wait_exit(const ProcessRef& p, std::chrono::milliseconds bound);

struct LaunchSpec {
    std::filesystem::path binary;  // the release binary
    std::vector<std::string> args;
    Color color = Color::blue;
    uint16_t port = 0;
    Secret token;                    // -> VIBE_DEPLOYMENT_TOKEN in the instance env (never argv)
    EnvVars extra_env;               // --env-file lines; PORT/DEPLOYMENT_COLOR/token still win
    std::filesystem::path workdir;   // empty = the binary's directory
    std::string run_as;              // user name; empty = unchanged
    uint64_t nofile = 0;             // RLIMIT_NOFILE soft+hard; 0 = inherited
    std::filesystem::path log_file;  // stdout+stderr appended here
    uint64_t log_max_bytes = 10u << 20;  // log renamed to <log>.1 at start when larger
};

// The instance's environment, the same with both runners; nothing else of zdd's environment
// reaches it (zdd's may hold secrets and proxies). In order, later entries winning:
//   PATH     /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin (systemd's default)
//   LANG     zdd's LANG, else C.UTF-8
//   APP_VERSION  from zdd's environment when set (the health contract's optional variable)
//   the --env-file lines (extra_env)
//   PORT, DEPLOYMENT_COLOR and VIBE_DEPLOYMENT_TOKEN (the contract's variables)
// The exec runner adds HOME, USER and LOGNAME (of --run-as, else zdd's); systemd sets those
// itself from the unit's User=.
using EnvGet = std::function<std::optional<std::string>(const std::string&)>;
std::optional<std::string> zdd_env(const std::string& name);  // getenv
EnvVars instance_environment(const LaunchSpec& spec, const EnvGet& parent = zdd_env);

// The exec runner's core: fork, setsid, reset signals, rlimit, stdin /dev/null, stdout+stderr
// to the log, chdir, setgid/setuid, close every other fd, execve with instance_environment().
// Throws RunnerError (binary missing or not executable, unknown user, exec failure...).
ProcessRef start_detached(const LaunchSpec& spec);

// Checks of --run-as (a user name), --workdir (an absolute path) and --host (an IP address or
// a host name): what they hold ends up in unit files, nginx's upstream and execve, so a
// newline or a `;` must never get through. Empty run_as/workdir are fine (unset). Returns the
// one-line error, or nullopt when all three are valid. Called where the flags are parsed.
std::optional<std::string> launch_options_error(const std::string& run_as,
                                                const std::string& workdir,
                                                const std::string& host);

// A warning when the instance would run as root (no --run-as, or a unit without User=).
std::optional<std::string> exec_root_warning(const LaunchSpec& spec);

class InstanceRunner {
  public:
    virtual ~InstanceRunner() = default;
    virtual std::string name() const = 0;  // "exec" | "systemd"
    // Starts the color's instance; returns its main process (pid 0 if the runner cannot say).
    virtual ProcessRef start(const LaunchSpec& spec) = 0;
    virtual bool alive(Color c, const ProcessRef& p) = 0;
    // SIGTERM: graceful stop (streams finish); SIGINT: cancel streams; SIGKILL: last resort.
    virtual bool signal(Color c, const ProcessRef& p, int sig) = 0;
    // True when the instance is gone within the bound.
    virtual bool wait_exit(Color c, const ProcessRef& p, std::chrono::milliseconds bound) = 0;
    // Set when the instance would run as root: zdd prints it before starting it.
    virtual std::optional<std::string> root_warning(const LaunchSpec& spec) = 0;
};

class ExecRunner : public InstanceRunner {
  public:
    std::string name() const override { return "exec"; }
    ProcessRef start(const LaunchSpec& spec) override { return start_detached(spec); }
    bool alive(Color, const ProcessRef& p) override { return zdd::alive(p); }
    bool signal(Color, const ProcessRef& p, int sig) override { return signal_process(p, sig); }
    bool wait_exit(Color, const ProcessRef& p, std::chrono::milliseconds bound) override {
        return zdd::wait_exit(p, bound).has_value();
    }
    std::optional<std::string> root_warning(const LaunchSpec& spec) override {
        return exec_root_warning(spec);
    }
};

// <state_dir>/<color>.env: what the systemd units read with EnvironmentFile= (0600, written by
// SystemdRunner::start): instance_environment() in systemd's env-file syntax. It carries the
// token whatever form the token file has (bare, KEY=VALUE, or zdd's environment only).
std::filesystem::path unit_env_file(const std::filesystem::path& state_dir, Color c);
// KEY="VALUE" lines, escaped for systemd's env-file parser. Throws RunnerError on a value with
// control characters (it would end the line) or a bad key.
std::string render_env_file(const EnvVars& env);

// `systemctl start|stop|kill|show <service>-<color>`. The units must exist (write_units);
// start() runs whatever <state>/<color> links to, with the spec's args through a runtime
// drop-in (<runtime_dir>/<unit>.d/zdd-args.conf) and its environment through unit_env_file.
// A stop or a cut is a systemd stop job first, so Restart= never brings back a color zdd is
// stopping: SIGTERM = `systemctl stop --no-block`, SIGINT/SIGKILL = the stop job plus
// `systemctl kill` of the main process.
class SystemdRunner : public InstanceRunner {
  public:
    SystemdRunner(std::string systemctl, std::string service, std::filesystem::path state_dir,
                  std::filesystem::path runtime_dir = "/run/systemd/system")
        : systemctl_(std::move(systemctl)),
          service_(std::move(service)),
          state_dir_(std::move(state_dir)),
          runtime_dir_(std::move(runtime_dir)) {}
    std::string name() const override { return "systemd"; }
    std::string unit(Color c) const { return service_ + "-" + to_string(c) + ".service"; }
    ProcessRef start(const LaunchSpec& spec) override;
    // While the unit has a process: active, reloading or deactivating (a stop job still
    // waiting for streams), not inactive, failed or waiting to restart.
    bool alive(Color c, const ProcessRef& p) override;
    bool signal(Color c, const ProcessRef& p, int sig) override;
    bool wait_exit(Color c, const ProcessRef& p, std::chrono::milliseconds bound) override;
    std::optional<std::string> root_warning(const LaunchSpec& spec) override;

  private:
    void write_args_dropin(Color c, const std::vector<std::string>& args);
    std::string systemctl_;
    std::string service_;
    std::filesystem::path state_dir_;
    std::filesystem::path runtime_dir_;
};

struct UnitSpec {
    std::string service;
    std::filesystem::path state_dir;  // ExecStart = <state_dir>/<color>; unit_env_file there
    std::array<uint16_t, 2> ports{8080, 8081};
    std::filesystem::path env_file;  // EnvironmentFile, optional (zdd's copy in the state dir wins)
    std::filesystem::path workdir;
    std::string run_as;
    uint64_t nofile = 0;
    std::vector<std::string> args;
};

// The text of <service>-<color>.service. Every value is escaped per systemd.syntax(7) (quoted
// ExecStart words, % specifiers, $ expansion); a value that cannot be written safely (a control
// character, a trailing backslash) throws RunnerError.
std::string render_unit(const UnitSpec& spec, Color c);
// Writes <dir>/<service>-blue.service and -green.service atomically; returns their paths.
std::vector<std::filesystem::path> write_units(const UnitSpec& spec,
                                               const std::filesystem::path& dir);

}  // namespace zdd
