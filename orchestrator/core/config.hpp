// Every zdd option (issue 5 "Options") with its default, read from flags, the environment and a
// config file. Precedence: flag > environment > config file (--config, else ZDD_CONFIG, else
// /etc/zdd/zdd.conf when it exists) > built-in default.
//
// Environment names: DRAIN_TIMEOUT for --drain-timeout (the seed's name); every other option
// --some-name reads ZDD_SOME_NAME (e.g. ZDD_PORTS, ZDD_STATE_DIR, ZDD_CONFIG). An empty variable
// counts as unset. The token itself is not an option: see token.hpp (VIBE_DEPLOYMENT_TOKEN).
// Config file: `key = value` lines with the long option name without dashes
// (`drain-timeout=2`, `drain_timeout=2`, `strict=true`, `ports=8080,8081`), '#'/';' comment
// lines, an optional [default] header, values optionally quoted; unknown keys are an error.
// Errors name the file, the line and the key, never the value (a --config pointed at a token
// file or /etc/shadow by mistake must not print a line of it).
// Durations are seconds and accept decimals (`--health-timeout 2.5`), 0 to 2592000 (30 days)
// as common/duration.hpp says; `--drain-timeout 0` waits forever, the others must be > 0.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace zdd {

// Bad configuration (unknown key, bad value, invalid combination): a one-line message.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Config {
    std::string config_file;  // --config

    std::string service = "vibe-manager";       // unit names <service>-<color>, state dir name
    std::string ports_text = "8080,8081";       // --ports: blue,green
    std::array<uint16_t, 2> ports{8080, 8081};  // parsed by finalize
    std::string host = "127.0.0.1";             // where instances listen and are probed

    std::string upstream_file = "/etc/nginx/conf.d/vibe-upstream.conf";
    std::string upstream_name = "vibe_backend";  // the `upstream NAME {}` block zdd owns
    int upstream_keepalive = 0;                  // --upstream-keepalive N; 0 = no directive
    std::string nginx_conf;    // --nginx-conf: passed as `-c`; empty = nginx's default
    std::string nginx_prefix;  // --nginx-prefix: passed as `-p`; empty = nginx's default
    std::string nginx_bin = "nginx";
    std::string nginx_pid_file;  // --nginx-pid-file; empty = the conf's `pid` or nginx's default
    std::string probe_url;       // a /health/deployment URL through nginx; empty = no probe

    std::string state_dir;  // empty -> /var/lib/zdd/<service> (set by finalize)
    std::string status_file = "/var/run/vibe-manager-deployment.status";
    std::string token_file = "/opt/vibe-manager/config/deployment.env";

    double drain_timeout = 120;  // seconds, 0 = wait forever (DRAIN_TIMEOUT)
    double health_timeout = 60;  // seconds for GET /health to answer ok
    std::string expect_version;  // empty = any version
    double idle_after = 5;       // classifier thresholds, seconds
    double push_gap = 1;
    double stuck_after = 30;
    double app_poll = 1;  // --app-poll: seconds between /health/deployment polls while draining
    bool strict = false;
    bool idle_ok = false;
    double min_drain = 0;                    // --min-drain: never declare drained sooner
    std::vector<std::string> ignore_remote;  // --ignore-remote CIDR (repeatable)
    bool handoff = false;  // --handoff: ask the drained color to hand its streams over

    double shift_hold = 0;                 // --shift-hold: seconds step 3's weights are held
    std::string weights_text = "100:1";    // --weights NEW:OLD for step 3
    int weight_new = 100, weight_old = 1;  // parsed by finalize
    std::string metrics_textfile;          // --metrics-textfile: node_exporter textfile
    std::string backend = "auto";          // --backend: connection monitor, auto | bpf | sock_diag

    std::string runner = "exec";          // exec | systemd
    std::string systemctl = "systemctl";  // --systemctl: the systemctl binary (runner systemd)
    std::string run_as;                   // user name; empty = zdd's user
    std::string env_file;                 // extra KEY=VALUE lines for the instance
    std::string workdir;                  // instance working directory; empty = the release dir
    uint64_t nofile = 0;                  // RLIMIT_NOFILE for the instance; 0 = inherited
    uint64_t log_max_bytes = 10u << 20;   // instance log rotated at start beyond this
    int keep_releases = 5;
};

// Options come in groups, each a section of --help; a subcommand takes the groups it uses.
enum OptionGroup : unsigned {
    kCommonOptions = 1u << 0,   // --config, --service, --ports, --host, --state-dir, ...
    kNginxOptions = 1u << 1,    // --upstream-*, --nginx-*, --probe-url
    kDrainOptions = 1u << 2,    // --drain-timeout, --app-poll, --strict, --min-drain, ...
    kDeployOptions = 1u << 3,   // --health-timeout, --expect-version, --weights, ...
    kLaunchOptions = 1u << 4,   // --run-as, --env-file, --workdir, ...
    kMetricsOptions = 1u << 5,  // --metrics-textfile
    kMonitorOptions = 1u << 6,  // --backend and the classifier's thresholds
    kRunnerOptions = 1u << 7,   // --runner, --systemctl
    kAllOptions = (1u << 8) - 1,
};

// The key = value settings of a config file's text as finalize() reads them (keys with '-',
// quotes and lists undone). Throws ConfigError naming `path` and the line.
std::map<std::string, std::string> config_settings(std::string_view text, const std::string& path);

// Registers the options of `groups` on `app` (a command or subcommand), bound to `cfg`. Call
// once per app. A config file may hold any zdd option: keys of groups not taken are ignored.
void add_options(CLI::App& app, Config& cfg, unsigned groups = kAllOptions);

// After parse: options given before the subcommand (`zdd --config F deploy`, registered on
// `parent` with add_options) count as given to `sub`; one given after the subcommand wins.
void take_parent_options(const CLI::App& parent, CLI::App& sub);

// Returns the value of an environment variable, or nullopt. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::optional<std::string> process_env(const std::string& name);

// The config file read when neither --config nor ZDD_CONFIG names one, if it exists (what
// `zdd init` writes). `--config none` (or ZDD_CONFIG=none) reads no file at all, as ssh -F none.
inline constexpr const char* kDefaultConfigFile = "/etc/zdd/zdd.conf";
inline constexpr const char* kNoConfigFile = "none";

// After app.parse(): fills every option not given on the command line from the environment,
// then from the config file (--config, else ZDD_CONFIG, else `default_file` when it exists;
// empty: none), then leaves the default; then validates and derives (ports, state_dir).
// Throws ConfigError.
void finalize(CLI::App& app, Config& cfg, const EnvLookup& env = process_env,
              const std::string& default_file = kDefaultConfigFile);

// The environment variable that feeds option `long_name` (without dashes).
std::string env_name_for(const std::string& long_name);

inline std::chrono::milliseconds to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0 + 0.5));
}

}  // namespace zdd
