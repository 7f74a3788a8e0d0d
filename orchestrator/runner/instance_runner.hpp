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

// The exec runner's core: fork, setsid, reset signals, rlimit, stdin /dev/null, stdout+stderr
// to the log, chdir, setgid/setuid, close every other fd, execve. The environment is zdd's
// (APP_VERSION and the rest pass through) + extra_env + PORT, DEPLOYMENT_COLOR and the token.
// Throws RunnerError (binary missing or not executable, unknown user, exec failure...).
ProcessRef start_detached(const LaunchSpec& spec);

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
};

// `systemctl start|kill|is-active|show <service>-<color>`. The units must exist (write_units);
// start() ignores the spec's binary: the unit runs whatever <state>/<color> links to.
class SystemdRunner : public InstanceRunner {
  public:
    SystemdRunner(std::string systemctl, std::string service)
        : systemctl_(std::move(systemctl)), service_(std::move(service)) {}
    std::string name() const override { return "systemd"; }
    std::string unit(Color c) const { return service_ + "-" + to_string(c) + ".service"; }
    ProcessRef start(const LaunchSpec& spec) override;
    bool alive(Color c, const ProcessRef& p) override;
    bool signal(Color c, const ProcessRef& p, int sig) override;
    bool wait_exit(Color c, const ProcessRef& p, std::chrono::milliseconds bound) override;
    void stop(Color c);  // systemctl stop (blocks until systemd has stopped it)

  private:
    std::string systemctl_;
    std::string service_;
};

struct UnitSpec {
    std::string service;
    std::filesystem::path state_dir;  // ExecStart = <state_dir>/<color>
    std::array<uint16_t, 2> ports{8080, 8081};
    std::filesystem::path token_file;  // EnvironmentFile (env-file form), optional
    std::filesystem::path env_file;    // EnvironmentFile, optional
    std::filesystem::path workdir;
    std::string run_as;
    uint64_t nofile = 0;
    std::vector<std::string> args;
};

// The text of <service>-<color>.service.
std::string render_unit(const UnitSpec& spec, Color c);
// Writes <dir>/<service>-blue.service and -green.service atomically; returns their paths.
std::vector<std::filesystem::path> write_units(const UnitSpec& spec,
                                               const std::filesystem::path& dir);

}  // namespace zdd
