#include "core/config.hpp"

#include "gate/peer_cidr.hpp"

#include <CLI/CLI.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <fstream>
#include <iterator>
#include <set>
#include <string_view>

#include "common/duration.hpp"
#include "common/parent_options.hpp"
#include "core/message_text.hpp"

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

namespace {

// Group titles, as --help shows them; finalize() reads only options of these groups.
constexpr const char* kGroupTitle[] = {"Common options",  "nginx options",  "Drain options",
                                       "Deploy options",  "Launch options", "Metrics options",
                                       "Monitor options", "Runner options"};

void add_common(CLI::App& app, Config& c) {
    // CLI11's own config/env handling is not used: finalize() applies them in the documented
    // order (CLI11 2.1 would let a config file value beat an environment variable).
    app.add_option("--config", c.config_file,
                   "Config file (key=value); default /etc/zdd/zdd.conf when it exists, "
                   "'none' for no file");
    app.add_option("--service", c.service, "Service name: units <service>-blue/-green")
        ->capture_default_str();
    app.add_option("--ports", c.ports_text, "Blue and green ports, comma separated")
        ->capture_default_str();
    app.add_option("--host", c.host, "Address instances listen on")->capture_default_str();
    app.add_option("--state-dir", c.state_dir, "State directory (default /var/lib/zdd/SERVICE)");
    app.add_option("--status-file", c.status_file, "File holding the active color word")
        ->capture_default_str();
    app.add_option("--token-file", c.token_file, "Deployment token file")->capture_default_str();
}

void add_nginx(CLI::App& app, Config& c) {
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
}

void add_drain(CLI::App& app, Config& c) {
    app.add_option("--drain-timeout", c.drain_timeout,
                   "Seconds to wait for the drain, 0 = forever (env DRAIN_TIMEOUT)")
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
    app.add_flag("--handoff", c.handoff,
                 "Once the old color is out of the upstream, ask it (POST "
                 "/health/deployment/handoff) to end its streams at the next message boundary so "
                 "resuming clients reconnect to the new color; an app without it (404) drains as "
                 "usual (env ZDD_HANDOFF=1)");
}

void add_deploy(CLI::App& app, Config& c) {
    app.add_option("--health-timeout", c.health_timeout, "Seconds for /health to answer ok")
        ->capture_default_str();
    app.add_option("--expect-version", c.expect_version, "Version /health must report");
    app.add_option("--shift-hold", c.shift_hold,
                   "Seconds step 3's weights are held while the new color is watched; a "
                   "failure puts the old color back alone (exit 19); 0 = no hold")
        ->capture_default_str();
    app.add_option("--weights", c.weights_text, "Step 3's upstream weights NEW:OLD")
        ->capture_default_str();
    app.add_option("--keep-releases", c.keep_releases, "Releases kept in the state dir")
        ->capture_default_str();
}

void add_launch(CLI::App& app, Config& c) {
    app.add_option("--run-as", c.run_as, "User the instance runs as");
    app.add_option("--env-file", c.env_file, "KEY=VALUE lines added to the instance environment");
    app.add_option("--workdir", c.workdir, "Instance working directory");
    app.add_option("--nofile", c.nofile, "RLIMIT_NOFILE for the instance (0 = inherited)");
    app.add_option("--log-max-bytes", c.log_max_bytes, "Instance log size that triggers rotation")
        ->capture_default_str();
}

void add_metrics(CLI::App& app, Config& c) {
    app.add_option("--metrics-textfile", c.metrics_textfile,
                   "Prometheus text file (node_exporter textfile collector) rewritten at each "
                   "phase and progress tick");
}

void add_monitor(CLI::App& app, Config& c) {
    app.add_option("--idle-after", c.idle_after, "Seconds of quiet before a socket is idle")
        ->capture_default_str();
    app.add_option("--push-gap", c.push_gap, "Seconds between answer and push for a stream")
        ->capture_default_str();
    app.add_option("--stuck-after", c.stuck_after, "Seconds before a stalled socket is stuck")
        ->capture_default_str();
    app.add_option("--backend", c.backend,
                   "Connection monitor: auto (BPF, else sock_diag), bpf or sock_diag")
        ->check(CLI::IsMember({"auto", "bpf", "sock_diag"}))
        ->capture_default_str();
}

void add_runner(CLI::App& app, Config& c) {
    app.add_option("--runner", c.runner, "How instances run: exec or systemd")
        ->check(CLI::IsMember({"exec", "systemd"}))
        ->capture_default_str();
    app.add_option("--systemctl", c.systemctl, "systemctl binary (runner systemd)")
        ->capture_default_str();
}

bool zdd_group(const std::string& group) {
    return std::find(std::begin(kGroupTitle), std::end(kGroupTitle), group) !=
           std::end(kGroupTitle);
}

}  // namespace

void add_options(CLI::App& app, Config& c, unsigned groups) {
    using Adder = void (*)(CLI::App&, Config&);
    constexpr Adder adders[] = {add_common, add_nginx,   add_drain,   add_deploy,
                                add_launch, add_metrics, add_monitor, add_runner};
    // One title per adder, in OptionGroup's bit order.
    static_assert(std::size(adders) == std::size(kGroupTitle));
    static_assert(kAllOptions == (1u << std::size(adders)) - 1);
    const std::string saved = app.option_defaults()->get_group();
    for (std::size_t i = 0; i < std::size(adders); ++i) {
        if (!(groups & (1u << i))) continue;
        app.option_defaults()->group(kGroupTitle[i]);
        adders[i](app, c);
    }
    app.option_defaults()->group(saved);
}

namespace {

// Every zdd option name: a config file may hold keys of options this subcommand does not take.
std::set<std::string> all_option_names() {
    CLI::App scratch;
    Config c;
    add_options(scratch, c);
    std::set<std::string> out;
    for (const CLI::Option* o : scratch.get_options())
        if (!o->get_lnames().empty()) out.insert(o->get_lnames().front());
    return out;
}

}  // namespace

void take_parent_options(const CLI::App& parent, CLI::App& sub) {
    drainmon::take_parent_options(parent, sub,
                                  [](const CLI::Option& o) { return zdd_group(o.get_group()); });
}

namespace {

std::string long_name(const CLI::Option* o) {
    const auto& names = o->get_lnames();
    return names.empty() ? std::string() : names.front();
}

// Where a value came from, for messages: "environment DRAIN_TIMEOUT", "config file F line 3".
// Messages name it and the key, never the value: --config may point at a secret by mistake.
using Origins = std::map<std::string, std::string>;

// Keep the validator's reason but never the value itself.
std::string without_value(std::string msg, const std::string& value) {
    if (value.size() >= 3)
        for (auto pos = msg.find(value); pos != std::string::npos; pos = msg.find(value, pos))
            msg.replace(pos, value.size(), "(value)");
    return printable(msg);
}

// Feed one textual value to an option through CLI11's own conversion and validators.
void apply(CLI::Option* o, const std::string& value, const std::string& origin) {
    o->clear();
    try {
        o->add_result(value);
        o->run_callback();
    } catch (const CLI::ValidationError& e) {
        std::string why = e.what();
        const std::string prefix = "--" + long_name(o) + ": ";
        if (why.rfind(prefix, 0) == 0) why = why.substr(prefix.size());
        throw ConfigError(origin + ": invalid value for --" + long_name(o) + ": " +
                          without_value(why, value));
    } catch (const CLI::Error&) {
        throw ConfigError(origin + ": invalid value for --" + long_name(o));
    }
}

struct FileEntry {
    std::string value;
    std::size_t line = 0;
};

bool key_char(char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
}

std::string trim(std::string_view s) {
    const char* ws = " \t\r";
    auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return "";
    return std::string(s.substr(b, s.find_last_not_of(ws) - b + 1));
}

// `key = value` lines (the INI/TOML subset zdd.conf uses): '#' and ';' comment lines, a
// [default] header, values optionally quoted or a [a, b] list. Errors name the file, the line
// and (when it is a key) the key; no part of a line's value is ever echoed.
std::map<std::string, FileEntry> parse_config_text(std::string_view text, const std::string& path);

// The default config file when it exists, else "". zdd reads it without being told to, often
// as root: like sshd with its own config, it must be owned by root (or the user running zdd)
// and not writable by group or others, or zdd refuses to run rather than ignore it.
std::string trusted_default_config(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return "";
        throw ConfigError("config file " + printable(path) + ": " + std::strerror(errno));
    }
    const std::string how = " (zdd reads it by default; fix it, or pass --config none)";
    if (!S_ISREG(st.st_mode))
        throw ConfigError("config file " + printable(path) + " is not a regular file" + how);
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
        throw ConfigError("config file " + printable(path) + " is owned by uid " +
                          std::to_string(st.st_uid) + ", not root" + how);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        throw ConfigError("config file " + printable(path) + " is writable by group or others" +
                          how);
    return path;
}

std::map<std::string, FileEntry> read_config_file(const std::string& path) {
    if (!std::filesystem::is_regular_file(path))
        throw ConfigError("config file " + printable(path) + " does not exist or is not a file");
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.eof() && in.fail())
        throw ConfigError("config file " + printable(path) + ": cannot read it");
    if (text.size() > (1u << 20))
        throw ConfigError("config file " + printable(path) +
                          ": larger than 1 MiB, not a config file");
    return parse_config_text(text, path);
}

std::map<std::string, FileEntry> parse_config_text(std::string_view text, const std::string& path) {
    std::map<std::string, FileEntry> out;
    std::size_t lineno = 0, pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string_view raw(text.data() + pos, nl - pos);
        pos = nl + 1;
        ++lineno;
        const std::string where =
            "config file " + printable(path) + " line " + std::to_string(lineno);
        if (raw.find('\0') != std::string_view::npos)
            throw ConfigError(where + ": holds a NUL byte (not a text file?)");
        std::string line = trim(raw);
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        if (line == "[default]") continue;
        if (line[0] == '[') throw ConfigError(where + ": sections are not supported");
        auto eq = line.find('=');
        if (eq == std::string::npos) throw ConfigError(where + ": not a key = value line");
        std::string key = trim(std::string_view(line).substr(0, eq));
        if (key.empty() || key.size() > 64 || !std::all_of(key.begin(), key.end(), key_char))
            throw ConfigError(where + ": not a key = value line");
        std::replace(key.begin(), key.end(), '_', '-');
        std::string value = trim(std::string_view(line).substr(eq + 1));
        if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') &&
            value.back() == value[0]) {
            value = value.substr(1, value.size() - 2);
        } else if (value.size() >= 2 && value[0] == '[' && value.back() == ']') {
            std::string list;
            std::string_view items(value.data() + 1, value.size() - 2);
            for (std::size_t i = 0; i <= items.size();) {
                std::size_t c = items.find(',', i);
                if (c == std::string_view::npos) c = items.size();
                std::string item = trim(items.substr(i, c - i));
                if (item.size() >= 2 && (item[0] == '"' || item[0] == '\'') &&
                    item.back() == item[0])
                    item = item.substr(1, item.size() - 2);
                list += (list.empty() ? "" : ",") + item;
                i = c + 1;
            }
            value = list;
        }
        if (out.count(key)) throw ConfigError(where + ": key '" + key + "' is set twice");
        out[key] = {value, lineno};
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

std::array<uint16_t, 2> parse_ports(const std::string& text, const std::string& origin) {
    auto comma = text.find(',');
    auto bad = [&](const std::string& why) {
        return ConfigError(origin + "--ports: " + why + " (expected BLUE,GREEN like 8080,8081)");
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
            throw bad("'" + printable(p.substr(0, 8)) + "' is not a port 1-65535");
        out[i] = static_cast<uint16_t>(v);
    }
    if (out[0] == out[1]) throw bad("blue and green need different ports");
    return out;
}

// One range for every duration (common/duration.hpp).
void check_seconds(const char* name, double v, drainmon::ZeroIs zero, const Origins& origins) {
    auto why = drainmon::duration_problem(v, zero);
    if (why.empty()) return;
    auto it = origins.find(name);
    const std::string origin = it != origins.end() ? it->second + ": " : "";
    throw ConfigError(origin + "--" + name + ": the duration " + why);
}

}  // namespace

std::map<std::string, std::string> config_settings(std::string_view text, const std::string& path) {
    std::map<std::string, std::string> out;
    for (auto& [key, entry] : parse_config_text(text, path)) out[key] = entry.value;
    return out;
}

void finalize(CLI::App& app, Config& c, const EnvLookup& env, const std::string& default_file) {
    auto lookup = [&](const std::string& name) -> std::optional<std::string> {
        auto v = env(name);
        if (v && v->empty()) return std::nullopt;
        return v;
    };
    CLI::Option* cfg_opt = app.get_option_no_throw("--config");
    if (cfg_opt && cfg_opt->count() == 0) {
        if (auto v = lookup(env_name_for("config"))) apply(cfg_opt, *v, env_name_for("config"));
    }
    if (cfg_opt && c.config_file.empty() && !default_file.empty())
        c.config_file = trusted_default_config(default_file);
    if (c.config_file == kNoConfigFile) c.config_file.clear();
    std::map<std::string, FileEntry> file;
    if (!c.config_file.empty()) file = read_config_file(c.config_file);

    std::set<std::string> known = all_option_names();
    Origins origins;  // option -> where its value came from (none: the command line or default)
    for (CLI::Option* o : app.get_options()) {
        const std::string name = long_name(o);
        if (name.empty() || name == "help" || name == "config") continue;
        known.insert(name);            // the subcommand's own options (init's --server-name) too
        if (o->count() > 0) continue;  // given on the command line: it wins
        const std::string ename = env_name_for(name);
        if (auto v = lookup(ename)) {
            origins[name] = "environment " + ename;
            apply(o, *v, origins[name]);
        } else if (auto it = file.find(name); it != file.end()) {
            origins[name] = "config file " + printable(c.config_file) + " line " +
                            std::to_string(it->second.line);
            apply(o, it->second.value, origins[name]);
        }
    }
    for (const auto& [k, v] : file)
        if (!known.count(k))
            throw ConfigError("config file " + printable(c.config_file) + " line " +
                              std::to_string(v.line) + ": unknown option '" + k + "'");
    auto from = [&](const std::string& name) {
        auto it = origins.find(name);
        return it != origins.end() ? it->second + ": " : std::string();
    };

    // Validation and derived values.
    c.ports = parse_ports(c.ports_text, from("ports"));
    if (!valid_name(c.service))
        throw ConfigError(from("service") + "--service: use letters, digits, _ - . @ only");
    if (!valid_name(c.upstream_name))
        throw ConfigError(from("upstream-name") +
                          "--upstream-name: use letters, digits, _ - . @ only");
    if (c.host.empty()) throw ConfigError("--host must not be empty");
    if (c.upstream_file.empty()) throw ConfigError("--upstream-file must not be empty");
    if (c.upstream_keepalive < 0) throw ConfigError("--upstream-keepalive must be >= 0");
    using drainmon::ZeroIs;
    check_seconds("drain-timeout", c.drain_timeout, ZeroIs::forever, origins);
    check_seconds("health-timeout", c.health_timeout, ZeroIs::refused, origins);
    check_seconds("idle-after", c.idle_after, ZeroIs::refused, origins);
    check_seconds("push-gap", c.push_gap, ZeroIs::refused, origins);
    check_seconds("stuck-after", c.stuck_after, ZeroIs::refused, origins);
    check_seconds("app-poll", c.app_poll, ZeroIs::refused, origins);
    check_seconds("min-drain", c.min_drain, ZeroIs::allowed, origins);
    check_seconds("shift-hold", c.shift_hold, ZeroIs::allowed, origins);
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
        throw ConfigError(from("runner") + "--runner: must be exec or systemd");
    if (c.keep_releases < 1) throw ConfigError("--keep-releases must be >= 1");
    if (c.state_dir.empty()) c.state_dir = "/var/lib/zdd/" + c.service;
}

}  // namespace zdd
