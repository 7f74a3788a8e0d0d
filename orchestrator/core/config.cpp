#include "core/config.hpp"

#include "gate/peer_cidr.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

namespace zdd {

std::optional<std::string> process_env(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
}

std::string env_name_for(const std::string& long_name) {
    if (long_name == "drain-timeout") return "DRAIN_TIMEOUT";  // the seed's name
    std::string out = "ZDD_";
    for (char c : long_name) out += c == '-' ? '_' : static_cast<char>(std::toupper(c));
    return out;
}

void add_options(CLI::App& app, Config& c) {
    // CLI11's own config/env handling is not used: finalize() applies them in the documented
    // order (CLI11 2.1 would let a config file value beat an environment variable).
    app.add_option("--config", c.config_file, "Config file (key=value, INI/TOML style)");
    app.add_option("--service", c.service, "Service name: units <service>-blue/-green")
        ->capture_default_str();
    app.add_option("--ports", c.ports_text, "Blue and green ports, comma separated")
        ->capture_default_str();
    app.add_option("--host", c.host, "Address instances listen on")->capture_default_str();
    app.add_option("--upstream-file", c.upstream_file, "nginx upstream file zdd owns")
        ->capture_default_str();
    app.add_option("--upstream-name", c.upstream_name, "Name of the nginx upstream block")
        ->capture_default_str();
    app.add_option("--upstream-keepalive", c.upstream_keepalive,
                   "keepalive N in the upstream block (0 = none)")
        ->capture_default_str();
    app.add_option("--nginx-conf", c.nginx_conf, "nginx main config (nginx -c)");
    app.add_option("--nginx-prefix", c.nginx_prefix, "nginx prefix (nginx -p)");
    app.add_option("--nginx-bin", c.nginx_bin, "nginx binary")->capture_default_str();
    app.add_option("--nginx-pid-file", c.nginx_pid_file,
                   "nginx master pid file (default: the conf's pid directive)");
    app.add_option("--probe-url", c.probe_url,
                   "/health/deployment URL through nginx to verify the cutover");
    app.add_option("--state-dir", c.state_dir, "State directory (default /var/lib/zdd/SERVICE)");
    app.add_option("--status-file", c.status_file, "File holding the active color word")
        ->capture_default_str();
    app.add_option("--token-file", c.token_file, "Deployment token file")->capture_default_str();
    app.add_option("--drain-timeout", c.drain_timeout,
                   "Seconds to wait for the drain, 0 = forever (env DRAIN_TIMEOUT)")
        ->capture_default_str();
    app.add_option("--health-timeout", c.health_timeout, "Seconds for /health to answer ok")
        ->capture_default_str();
    app.add_option("--expect-version", c.expect_version, "Version /health must report");
    app.add_option("--idle-after", c.idle_after, "Seconds of quiet before a socket is idle")
        ->capture_default_str();
    app.add_option("--push-gap", c.push_gap, "Seconds between answer and push for a stream")
        ->capture_default_str();
    app.add_option("--stuck-after", c.stuck_after, "Seconds before a stalled socket is stuck")
        ->capture_default_str();
    app.add_option("--app-poll", c.app_poll, "Seconds between app polls while draining")
        ->capture_default_str();
    app.add_flag("--strict", c.strict, "Stuck sockets block the drain until the timeout");
    app.add_flag("--idle-ok", c.idle_ok, "Idle sockets never block the drain");
    app.add_option("--min-drain", c.min_drain,
                   "Seconds the drain lasts at least, whatever the counts say")
        ->capture_default_str();
    app.add_option("--ignore-remote", c.ignore_remote,
                   "CIDR (repeatable): connections from these peers neither hold the drain nor "
                   "count as active (still listed)");
    app.add_option("--shift-hold", c.shift_hold,
                   "Seconds step 3's weights are held while the new color is watched; a "
                   "failure puts the old color back alone (exit 19); 0 = no hold")
        ->capture_default_str();
    app.add_option("--weights", c.weights_text, "Step 3's upstream weights NEW:OLD")
        ->capture_default_str();
    app.add_option("--metrics-textfile", c.metrics_textfile,
                   "Prometheus text file (node_exporter textfile collector) rewritten at each "
                   "phase and progress tick");
    app.add_option("--backend", c.backend,
                   "Connection monitor: auto (BPF, else sock_diag), bpf or sock_diag")
        ->check(CLI::IsMember({"auto", "bpf", "sock_diag"}))
        ->capture_default_str();
    app.add_option("--runner", c.runner, "How instances run: exec or systemd")
        ->check(CLI::IsMember({"exec", "systemd"}))
        ->capture_default_str();
    app.add_option("--systemctl", c.systemctl, "systemctl binary (runner systemd)")
        ->capture_default_str();
    app.add_option("--run-as", c.run_as, "User the instance runs as");
    app.add_option("--env-file", c.env_file, "KEY=VALUE lines added to the instance environment");
    app.add_option("--workdir", c.workdir, "Instance working directory");
    app.add_option("--nofile", c.nofile, "RLIMIT_NOFILE for the instance (0 = inherited)");
    app.add_option("--log-max-bytes", c.log_max_bytes, "Instance log size that triggers rotation")
        ->capture_default_str();
    app.add_option("--keep-releases", c.keep_releases, "Releases kept in the state dir")
        ->capture_default_str();
}

namespace {

std::string long_name(const CLI::Option* o) {
    const auto& names = o->get_lnames();
    return names.empty() ? std::string() : names.front();
}

// Feed one textual value to an option through CLI11's own conversion and validators.
void apply(CLI::Option* o, const std::string& value, const std::string& origin) {
    o->clear();
    try {
        o->add_result(value);
        o->run_callback();
    } catch (const CLI::Error& e) {
        throw ConfigError(origin + ": invalid value for --" + long_name(o) + ": " + e.what());
    }
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
    std::map<std::string, std::string> out;
    if (!std::filesystem::is_regular_file(path))
        throw ConfigError("config file " + path + " does not exist or is not a file");
    std::vector<CLI::ConfigItem> items;
    try {
        CLI::ConfigTOML reader;
        items = reader.from_file(path);
    } catch (const CLI::Error& e) {
        throw ConfigError("config file " + path + ": " + e.what());
    }
    for (const auto& it : items) {
        // CLI11 reports a top-level key with parent "default"; sections are not ours.
        bool top = it.parents.empty() || (it.parents.size() == 1 && it.parents[0] == "default");
        if (!top)
            throw ConfigError("config file " + path + ": sections are not supported (" +
                              it.fullname() + ")");
        if (it.name == "++" || it.name == "--") continue;  // CLI11 section markers
        std::string key = it.name;
        std::replace(key.begin(), key.end(), '_', '-');
        std::string value;
        for (std::size_t i = 0; i < it.inputs.size(); ++i) value += (i ? "," : "") + it.inputs[i];
        out[key] = value;
    }
    return out;
}

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 200) return false;
    return std::all_of(s.begin(), s.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' ||
               ch == '.' || ch == '@';
    });
}

std::array<uint16_t, 2> parse_ports(const std::string& text) {
    auto comma = text.find(',');
    auto bad = [&](const std::string& why) {
        return ConfigError("--ports " + text + ": " + why +
                           " (expected BLUE,GREEN like 8080,8081)");
    };
    if (comma == std::string::npos || text.find(',', comma + 1) != std::string::npos)
        throw bad("need exactly two ports");
    std::array<uint16_t, 2> out{};
    std::string parts[2] = {text.substr(0, comma), text.substr(comma + 1)};
    for (int i = 0; i < 2; ++i) {
        auto& p = parts[i];
        p.erase(0, p.find_first_not_of(' '));
        p.erase(p.find_last_not_of(' ') + 1);
        unsigned v = 0;
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
        if (ec != std::errc() || ptr != p.data() + p.size() || p.empty() || v == 0 || v > 65535)
            throw bad("'" + p + "' is not a port 1-65535");
        out[i] = static_cast<uint16_t>(v);
    }
    if (out[0] == out[1]) throw bad("blue and green need different ports");
    return out;
}

void check_seconds(const char* name, double v, bool allow_zero) {
    if (!std::isfinite(v) || v < 0 || (!allow_zero && v == 0))
        throw ConfigError(std::string("--") + name + ": must be " +
                          (allow_zero ? "a number of seconds >= 0" : "a number of seconds > 0"));
}

}  // namespace

void finalize(CLI::App& app, Config& c, const EnvLookup& env) {
    auto lookup = [&](const std::string& name) -> std::optional<std::string> {
        auto v = env(name);
        if (v && v->empty()) return std::nullopt;
        return v;
    };
    CLI::Option* cfg_opt = app.get_option_no_throw("--config");
    if (cfg_opt && cfg_opt->count() == 0) {
        if (auto v = lookup(env_name_for("config"))) apply(cfg_opt, *v, env_name_for("config"));
    }
    std::map<std::string, std::string> file;
    if (!c.config_file.empty()) file = read_config_file(c.config_file);

    std::set<std::string> known;
    for (CLI::Option* o : app.get_options()) {
        const std::string name = long_name(o);
        if (name.empty() || name == "help" || name == "config") continue;
        known.insert(name);
        if (o->count() > 0) continue;  // given on the command line: it wins
        const std::string ename = env_name_for(name);
        if (auto v = lookup(ename)) {
            apply(o, *v, "environment " + ename);
        } else if (auto it = file.find(name); it != file.end()) {
            apply(o, it->second, "config file " + c.config_file);
        }
    }
    for (const auto& [k, v] : file)
        if (!known.count(k))
            throw ConfigError("config file " + c.config_file + ": unknown option '" + k + "'");

    // Validation and derived values.
    c.ports = parse_ports(c.ports_text);
    if (!valid_name(c.service))
        throw ConfigError("--service '" + c.service + "': use letters, digits, _ - . @ only");
    if (!valid_name(c.upstream_name))
        throw ConfigError("--upstream-name '" + c.upstream_name +
                          "': use letters, digits, _ - . @ only");
    if (c.host.empty()) throw ConfigError("--host must not be empty");
    if (c.upstream_file.empty()) throw ConfigError("--upstream-file must not be empty");
    if (c.upstream_keepalive < 0) throw ConfigError("--upstream-keepalive must be >= 0");
    check_seconds("drain-timeout", c.drain_timeout, true);
    check_seconds("health-timeout", c.health_timeout, false);
    check_seconds("idle-after", c.idle_after, false);
    check_seconds("push-gap", c.push_gap, false);
    check_seconds("stuck-after", c.stuck_after, false);
    check_seconds("app-poll", c.app_poll, false);
    check_seconds("min-drain", c.min_drain, true);
    check_seconds("shift-hold", c.shift_hold, true);
    if (c.drain_timeout > 0 && c.min_drain > c.drain_timeout)
        throw ConfigError("--min-drain must not exceed --drain-timeout");
    for (const auto& cidr : c.ignore_remote) {
        try {
            drainmon::parse_peer_cidr(cidr);
        } catch (const drainmon::CidrError& e) {
            throw ConfigError(e.what());
        }
    }
    {
        // NEW:OLD, each an nginx weight 1-1000.
        const std::string& w = c.weights_text;
        const auto colon = w.find(':');
        auto weight = [&](const std::string& part, int& out) {
            int v = 0;
            auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
            if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || v < 1 ||
                v > 1000)
                throw ConfigError("--weights " + w +
                                  ": expected NEW:OLD, each a whole number 1-1000 (like 100:1)");
            out = v;
        };
        if (colon == std::string::npos)
            throw ConfigError("--weights " + w + ": expected NEW:OLD (like 100:1)");
        weight(w.substr(0, colon), c.weight_new);
        weight(w.substr(colon + 1), c.weight_old);
    }
    if (c.runner != "exec" && c.runner != "systemd")
        throw ConfigError("--runner '" + c.runner + "': must be exec or systemd");
    if (c.keep_releases < 1) throw ConfigError("--keep-releases must be >= 1");
    if (c.state_dir.empty()) c.state_dir = "/var/lib/zdd/" + c.service;
}

}  // namespace zdd
