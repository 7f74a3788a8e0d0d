#include "nginx/nginx_conf_checks.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/message_text.hpp"

namespace zdd {

namespace {

using Level = DoctorFinding::Level;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string ms_text(long long ms) {
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

// The chain of blocks from `http` down to a location (or an `if` inside one): nginx inherits
// most directives from the outer levels unless the inner level sets them.
struct Scope {
    std::vector<const ConfDirective*> blocks;  // http, server, location..., innermost last

    // The innermost setting of a single-valued directive, or nullptr (nginx's default).
    const ConfDirective* find(const std::string& name) const {
        for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
            const ConfDirective* found = nullptr;
            for (const auto& d : (*it)->children)
                if (d.name == name && !d.block) found = &d;
            if (found) return found;
        }
        return nullptr;
    }

    // proxy_set_header is all-or-nothing: the innermost level with any of them defines them
    // all; outer ones are not inherited (a classic way to lose headers).
    std::vector<const ConfDirective*> headers() const {
        for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
            std::vector<const ConfDirective*> out;
            for (const auto& d : (*it)->children)
                if (d.name == "proxy_set_header" && d.args.size() >= 2) out.push_back(&d);
            if (!out.empty()) return out;
        }
        return {};
    }

    const ConfDirective* header(const std::string& field) const {
        const ConfDirective* found = nullptr;
        for (const auto* d : headers())
            if (lower(d->args[0]) == lower(field)) found = d;
        return found;
    }

    const ConfDirective& innermost() const { return *blocks.back(); }

    std::string describe() const {
        std::string out;
        for (const auto* b : blocks)
            if (b->name == "location") out = "location " + join_words(b->args);
        if (innermost().name == "if") out += " (inside if " + join_words(innermost().args) + ")";
        return out.empty() ? innermost().name : out;
    }
};

// `proxy_pass http://NAME[/...]` names the upstream block NAME.
bool proxies_to(const ConfDirective& d, const std::string& upstream) {
    if (d.name != "proxy_pass" || d.args.size() != 1) return false;
    std::string target = d.args[0];
    for (std::string scheme : {"http://", "https://"}) {
        if (target.rfind(scheme, 0) == 0) {
            std::string host = target.substr(scheme.size());
            host = host.substr(0, host.find('/'));
            return host == upstream;
        }
    }
    return false;
}

void collect_proxying(const ConfDirective& block, Scope& scope, const std::string& upstream,
                      std::vector<Scope>& out) {
    scope.blocks.push_back(&block);
    bool proxies = false;
    for (const auto& d : block.children) {
        if (d.block && (d.name == "location" || d.name == "if" || d.name == "limit_except"))
            collect_proxying(d, scope, upstream, out);
        else if (!d.block && proxies_to(d, upstream))
            proxies = true;
    }
    if (proxies) out.push_back(scope);
    scope.blocks.pop_back();
}

// What a `map SRC $var { ... }` in http gives a variable.
struct MapInfo {
    std::string source;       // "$http_upgrade"
    std::string empty_value;  // the value when the source is empty (a plain request)
};

const MapInfo* find_map(const std::vector<MapInfo>& maps, const std::vector<std::string>& vars,
                        const std::string& var) {
    for (std::size_t i = 0; i < vars.size(); ++i)
        if (vars[i] == var) return &maps[i];
    return nullptr;
}

struct Checker {
    const NginxConf& conf;
    const Config& cfg;
    std::vector<DoctorFinding> out;
    std::vector<std::string> map_vars;
    std::vector<MapInfo> maps;

    // Config values end up in the text: control bytes are escaped so a finding stays a line.
    void add(Level l, const std::string& where, const std::string& text) {
        out.push_back({l, printable(where), printable(text)});
    }

    void worker_shutdown_timeout() {
        const ConfDirective* wst = nullptr;
        for (const auto& d : conf.root)
            if (d.name == "worker_shutdown_timeout" && !d.block) wst = &d;
        if (!wst) {
            add(Level::note, "",
                "worker_shutdown_timeout is not set: after a reload nginx's old workers keep "
                "each connection until it ends, which is what long streams need");
            return;
        }
        long long ms = wst->args.size() == 1 ? parse_nginx_time_ms(wst->args[0]) : -1;
        if (ms < 0) {
            add(Level::note, wst->where(),
                "worker_shutdown_timeout '" + join_words(wst->args) +
                    "' is not a time zdd can read");
            return;
        }
        const std::string v = wst->args[0];
        if (cfg.drain_timeout == 0) {
            add(Level::fix, wst->where(),
                "worker_shutdown_timeout " + v +
                    " is set but the drain timeout is 0 (wait forever): after each reload nginx "
                    "closes whatever its old workers still carry once " +
                    v +
                    " has passed, cutting streams zdd is still draining; remove it (unset, old "
                    "workers wait for their connections forever)");
        } else if (static_cast<double>(ms) < cfg.drain_timeout * 1000.0) {
            add(Level::fix, wst->where(),
                "worker_shutdown_timeout " + v + " is shorter than the drain timeout (" +
                    seconds_text(cfg.drain_timeout) +
                    "): after each reload nginx closes whatever its old workers still carry "
                    "once " +
                    v +
                    " has passed, cutting streams zdd is still draining; raise "
                    "it to at least " +
                    seconds_text(cfg.drain_timeout) +
                    " or remove it (unset, old workers wait for their connections forever)");
        }
    }

    void location(const Scope& s, bool keepalive) {
        const std::string L = s.describe();
        const std::string at = s.innermost().where();

        const ConfDirective* buf = s.find("proxy_buffering");
        if (!buf || buf->args.empty() || lower(buf->args[0]) != "off")
            add(Level::fix, buf ? buf->where() : at,
                L + ": proxy_buffering is " +
                    (buf ? join_words(buf->args) : "on (nginx's default)") +
                    ": nginx may hold event-stream bytes in its buffers instead of passing each "
                    "event on at once; add `proxy_buffering off;` (or have the app send "
                    "`X-Accel-Buffering: no` on its streams)");

        const ConfDirective* gz = s.find("gzip");
        if (gz && !gz->args.empty() && lower(gz->args[0]) == "on") {
            const ConfDirective* types = s.find("gzip_types");
            bool streams = false;
            if (types)
                for (const auto& t : types->args)
                    if (t == "*" || lower(t) == "text/event-stream") streams = true;
            if (streams)
                add(Level::fix, types->where(),
                    L + ": gzip is on (" + gz->where() +
                        ") and gzip_types covers "
                        "text/event-stream: nginx compresses streams in blocks, so events arrive "
                        "late and in bursts; add `gzip off;` here or drop text/event-stream from "
                        "gzip_types");
        }

        const ConfDirective* rt = s.find("proxy_read_timeout");
        const double min_s = cfg.stuck_after * 2;
        if (rt) {
            long long ms = rt->args.size() == 1 ? parse_nginx_time_ms(rt->args[0]) : -1;
            if (ms < 0)
                add(Level::note, rt->where(),
                    L + ": proxy_read_timeout '" + join_words(rt->args) +
                        "' is not a time zdd can read");
            else if (static_cast<double>(ms) < min_s * 1000.0)
                add(Level::fix, rt->where(),
                    L + ": proxy_read_timeout " + ms_text(ms) +
                        " is shorter than twice --stuck-after (" + seconds_text(min_s) +
                        "): nginx closes a stream that stays quiet that long; set "
                        "`proxy_read_timeout` above your streams' longest quiet gap (e.g. 1h)");
        } else if (60.0 < min_s) {
            add(Level::fix, at,
                L +
                    ": proxy_read_timeout is not set, so nginx's default 60s applies, shorter "
                    "than twice --stuck-after (" +
                    seconds_text(min_s) +
                    "): nginx closes a stream that stays quiet 60s; set `proxy_read_timeout` "
                    "above your streams' longest quiet gap (e.g. 1h)");
        } else {
            add(Level::note, at,
                L + ": proxy_read_timeout is not set: nginx's default 60s closes a stream that "
                    "stays quiet 60s; set it above your streams' longest quiet gap if they "
                    "have longer ones");
        }

        const ConfDirective* ver = s.find("proxy_http_version");
        if (!ver || ver->args.empty() || ver->args[0] != "1.1")
            add(Level::fix, ver ? ver->where() : at,
                L + ": proxy_http_version is " +
                    (ver ? join_words(ver->args) : "1.0 (nginx's default)") +
                    ": HTTP/1.0 to the app means no upstream keepalive and no WebSocket "
                    "upgrade; add `proxy_http_version 1.1;`");

        const ConfDirective* upgrade = s.header("Upgrade");
        const ConfDirective* connection = s.header("Connection");
        const std::string conn_value = connection ? connection->args[1] : "";
        const MapInfo* conn_map =
            conn_value.rfind("$", 0) == 0 ? find_map(maps, map_vars, conn_value) : nullptr;

        if (keepalive) {
            // What a plain (non-upgrade) request sends upstream as Connection.
            std::string plain;
            bool known = true;
            if (!connection)
                plain = "close";  // nginx's default proxy header
            else if (conn_map)
                plain = conn_map->empty_value;
            else if (conn_value.rfind("$", 0) == 0)
                known = false;  // a variable we cannot evaluate: say nothing
            else
                plain = conn_value;
            if (known && !plain.empty() && lower(plain) != "keep-alive")
                add(Level::fix, connection ? connection->where() : at,
                    L + ": upstream " + cfg.upstream_name +
                        " uses keepalive but this location sends `Connection: " + plain + "`" +
                        (connection ? "" : " (nginx's default)") +
                        " on plain requests, so every request closes its upstream connection; "
                        "add `proxy_set_header Connection \"\";` (with WebSockets: map "
                        "$http_upgrade '' to \"\")");
        }

        bool upgrade_ok = upgrade && upgrade->args[1] == "$http_upgrade";
        bool conn_ok =
            lower(conn_value) == "upgrade" || (conn_map && conn_map->source == "$http_upgrade");
        if (!upgrade_ok || !conn_ok) {
            std::string missing;
            if (!upgrade_ok) missing = "`proxy_set_header Upgrade $http_upgrade;`";
            if (!conn_ok)
                missing += std::string(missing.empty() ? "" : " and ") +
                           "`proxy_set_header Connection $connection_upgrade;`";
            add(Level::fix, at,
                L +
                    ": missing WebSocket upgrade headers: a WebSocket handshake reaches the "
                    "app without them and fails; add " +
                    missing +
                    " (with `map $http_upgrade $connection_upgrade { default upgrade; '' \"\"; }`"
                    " in http)");
        }
    }

    void run() {
        worker_shutdown_timeout();

        // The upstream file is part of nginx's config only when something includes it.
        std::error_code ec;
        auto want = std::filesystem::weakly_canonical(cfg.upstream_file, ec);
        bool included = false;
        for (const auto& f : conf.files) {
            std::error_code ec2;
            auto have = std::filesystem::weakly_canonical(f, ec2);
            if (!ec && !ec2 && have == want) included = true;
        }
        if (!included)
            add(Level::fix, "",
                "the upstream file " + cfg.upstream_file +
                    " is not included in nginx's config: zdd's weight changes never reach "
                    "nginx; add `include " +
                    cfg.upstream_file + ";` inside the http block");

        bool upstream_found = false;
        bool keepalive = cfg.upstream_keepalive > 0;
        std::vector<Scope> proxying;
        for (const auto& http : conf.root) {
            if (http.name != "http" || !http.block) continue;
            for (const auto& d : http.children) {
                if (d.name == "map" && d.block && d.args.size() == 2) {
                    MapInfo m{d.args[0], ""};
                    bool has_empty = false;
                    for (const auto& e : d.children) {
                        if (e.args.empty()) continue;
                        if (e.name.empty()) {
                            m.empty_value = e.args[0];
                            has_empty = true;
                        } else if (e.name == "default" && !has_empty) {
                            m.empty_value = e.args[0];
                        }
                    }
                    map_vars.push_back(d.args[1]);
                    maps.push_back(m);
                }
                if (d.name == "upstream" && d.block && d.args.size() == 1 &&
                    d.args[0] == cfg.upstream_name) {
                    upstream_found = true;
                    for (const auto& u : d.children)
                        if (u.name == "keepalive") keepalive = true;
                }
            }
            for (const auto& server : http.children) {
                if (server.name != "server" || !server.block) continue;
                Scope scope;
                scope.blocks.push_back(&http);
                collect_proxying(server, scope, cfg.upstream_name, proxying);
            }
        }
        if (included && !upstream_found)
            add(Level::fix, "",
                "no `upstream " + cfg.upstream_name + "` block in nginx's config although " +
                    cfg.upstream_file + " is included: check --upstream-name");
        if (proxying.empty())
            add(Level::fix, "",
                "no location proxy_passes to http://" + cfg.upstream_name +
                    ": traffic never reaches the instances zdd deploys; add `proxy_pass http://" +
                    cfg.upstream_name + ";` to the location that serves the app");
        for (const auto& s : proxying) location(s, keepalive);
    }
};

}  // namespace

std::vector<DoctorFinding> check_nginx_conf(const NginxConf& conf, const Config& cfg) {
    Checker c{conf, cfg, {}, {}, {}};
    c.run();
    return c.out;
}

}  // namespace zdd
