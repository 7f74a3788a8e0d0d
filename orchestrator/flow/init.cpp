#include "flow/init.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/message_text.hpp"
#include "core/outcome.hpp"
#include "flow/doctor.hpp"
#include "flow/site_template.hpp"
#include "nginx/nginx_control.hpp"
#include "nginx/nginx_upstream.hpp"
#include "state/atomic_file.hpp"

namespace zdd {

namespace fs = std::filesystem;

namespace {

enum class Verdict { unchanged, create, replace, kept };

// One file init owns: what is there, what init would write, and what it decided.
struct Planned {
    std::string what;  // "nginx site", "upstream file", ...
    fs::path path;
    std::optional<std::string> old;  // content now; nullopt = absent
    std::string content;
    mode_t mode = 0644;
    bool secret = false;  // never printed (the token)
    Verdict verdict = Verdict::unchanged;
    std::string why;  // for replace/kept: the reason, one phrase
    bool applied = false;
};

bool safe_word(const std::string& s, const char* extra) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!std::isalnum(c) && !std::strchr(extra, c)) return false;
    return true;
}

void replace_once(std::string& text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    if (at == std::string::npos)
        throw std::logic_error("the nginx site template has no '" + from + "' line to adapt");
    text.replace(at, from.size(), to);
}

// Debian's nginx.conf includes /etc/nginx/conf.d/*.conf in http; any other upstream file
// needs its own include in the site.
bool included_by_debian_nginx(const fs::path& upstream) {
    return upstream.parent_path() == "/etc/nginx/conf.d" && upstream.extension() == ".conf";
}

std::string derived_probe_url(const InitOptions& o) {
    std::string hostport = "127.0.0.1";
    if (safe_word(o.listen, "")) {
        if (o.listen != "80") hostport += ":" + o.listen;
    } else {
        hostport = o.listen;  // ADDR:PORT as given
    }
    return "http://" + hostport + "/health/deployment";
}

// The settings init writes into the config file, in order; empty values are left out.
std::vector<std::pair<std::string, std::string>> settings_of(const Config& c) {
    std::vector<std::pair<std::string, std::string>> s{
        {"service", c.service},
        {"ports", std::to_string(c.ports[0]) + "," + std::to_string(c.ports[1])},
        {"host", c.host},
        {"upstream-file", c.upstream_file},
        {"upstream-name", c.upstream_name},
        {"token-file", c.token_file},
        {"state-dir", c.state_dir},
        {"probe-url", c.probe_url},
        {"nginx-bin", c.nginx_bin},
        {"nginx-conf", c.nginx_conf},
        {"nginx-prefix", c.nginx_prefix},
        {"nginx-pid-file", c.nginx_pid_file},
    };
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& kv : s)
        if (!kv.second.empty()) out.push_back(std::move(kv));
    return out;
}

// An existing config file's settings, read as zdd reads it; a file zdd would refuse is not
// init's ("?" marks it).
std::map<std::string, std::string> existing_settings(const std::string& text) {
    try {
        return config_settings(text, "(existing config)");
    } catch (const ConfigError&) {
        return {{"?", ""}};
    }
}

std::string random_token() {
    unsigned char raw[32];
    std::size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = ::getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Failure(Outcome::internal, std::string("getrandom: ") + std::strerror(errno));
        }
        got += static_cast<std::size_t>(n);
    }
    static const char* hex = "0123456789abcdef";
    std::string t;
    for (unsigned char b : raw) {
        t += hex[b >> 4];
        t += hex[b & 15];
    }
    return t;
}

std::string utc_stamp() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

// Debian's stock default site (sites-enabled/default -> sites-available/default) also listens
// on :80 as default_server and would take the requests meant for the new site.
std::optional<fs::path> stock_default_site(const fs::path& site_file) {
    fs::path link = site_file.parent_path() / "default";
    std::error_code ec;
    if (link == site_file || !fs::is_symlink(link, ec)) return std::nullopt;
    fs::path target = fs::read_symlink(link, ec);
    if (ec || target.filename() != "default" ||
        target.parent_path().filename() != "sites-available")
        return std::nullopt;
    return link;
}

class InitRun {
  public:
    InitRun(const Config& cfg, const InitOptions& o, std::ostream& out)
        : cfg_(cfg), o_(o), out_(out) {
        if (cfg_.probe_url.empty()) cfg_.probe_url = derived_probe_url(o_);
        site_file_ = o_.site_file.empty() ? fs::path("/etc/nginx/sites-enabled") / cfg_.service
                                          : fs::path(o_.site_file);
    }

    Outcome run() {
        plan();
        print_plan();
        const bool kept = any(Verdict::kept);
        if (o_.dry_run) {
            out_ << "dry run: nothing written\n";
            return kept ? Outcome::kept : Outcome::ok;
        }
        const bool changes = any(Verdict::create) || any(Verdict::replace) || default_site_;
        if (!changes) {
            out_ << "zdd init: nothing to change, the host is already set up\n";
        } else {
            apply();
            out_ << "zdd init: files written, nginx -t passed"
                 << (reloaded_ ? ", nginx reloaded with the new config" : "") << "\n";
        }
        if (o_.config_out != kDefaultConfigFile)
            out_ << "zdd reads these settings with --config " << o_.config_out
                 << " (or ZDD_CONFIG=" << o_.config_out << ")\n";
        out_ << "zdd doctor:\n";
        int d = run_doctor(cfg_, out_);
        if (kept) {
            out_ << "zdd init: a differing file was kept; rerun with --force to replace it "
                    "(a backup is kept)\n";
            return Outcome::kept;
        }
        if (d == 2) return Outcome::nginx_test;
        return d == 0 ? Outcome::ok : Outcome::doctor;
    }

  private:
    bool any(Verdict v) const {
        for (const auto& p : files_)
            if (p.verdict == v) return true;
        return false;
    }

    void validate() const {
        if (!safe_word(o_.server_name, "._-*~ "))
            throw Failure(Outcome::usage, "--server-name '" + o_.server_name +
                                              "': only letters, digits, '.', '-', '*', '~', '_' "
                                              "and spaces");
        if (!safe_word(o_.listen, ".:[]"))
            throw Failure(Outcome::usage, "--listen '" + o_.listen + "': PORT or ADDR:PORT");
        for (const auto& [name, v] :
             {std::pair<const char*, std::string>{"--upstream-file", cfg_.upstream_file},
              {"--site-file", site_file_.string()},
              {"--token-file", cfg_.token_file},
              {"--config", o_.config_out}})
            if (v.empty() || v.front() != '/' || !safe_word(v, "/._-+@"))
                throw Failure(Outcome::usage, std::string(name) + " '" + v +
                                                  "': an absolute path of letters, digits and "
                                                  "/._-+@");
        if (!safe_word(cfg_.upstream_name, "_-"))
            throw Failure(Outcome::usage, "--upstream-name '" + cfg_.upstream_name +
                                              "': letters, digits, '_' and '-' only");
    }

    Planned& add(std::string what, fs::path path, std::string content, mode_t mode) {
        Planned p;
        p.what = std::move(what);
        p.path = std::move(path);
        p.content = std::move(content);
        p.mode = mode;
        try {
            p.old = read_file_if_exists(p.path);
        } catch (const FileError& e) {
            throw Failure(Outcome::state, p.what + ": " + e.what());
        }
        if (!p.old)
            p.verdict = Verdict::create;
        else if (*p.old == p.content)
            p.verdict = Verdict::unchanged;
        else
            p.verdict = o_.force ? Verdict::replace : Verdict::kept;
        files_.push_back(std::move(p));
        return files_.back();
    }

    void plan() {
        validate();
        // The token: created only when absent; any existing token is the operator's.
        {
            auto& t = add("token file", cfg_.token_file, "", 0600);
            t.secret = true;
            if (t.verdict == Verdict::create)
                t.content = std::string(kTokenLine) + "=" + random_token() + "\n";
            else
                t.verdict = Verdict::unchanged;
        }

        // The config file: settings init derived; a stock file (only comments) is replaced.
        {
            Config defaults;
            defaults.state_dir = "/var/lib/zdd/" + cfg_.service;
            std::map<std::string, std::string> def;
            for (auto& kv : settings_of(defaults)) def.insert(kv);
            std::string text =
                "# Written by `zdd init` for service " + cfg_.service +
                ". Every other option (and what each one does):\n"
                "# /usr/share/doc/zdd/examples/zdd.conf. " +
                (o_.config_out == kDefaultConfigFile
                     ? std::string("zdd reads this file by default.\n")
                     : "zdd reads this file with --config " + printable(o_.config_out) +
                           " or ZDD_CONFIG=" + printable(o_.config_out) + ".\n");
            auto want = settings_of(cfg_);
            for (const auto& [k, v] : want) text += k + "=" + v + "\n";
            auto& c = add("config file", o_.config_out, text, 0644);
            if (c.old && c.verdict != Verdict::unchanged) {
                auto have = existing_settings(*c.old);
                if (have.empty()) {
                    c.verdict = Verdict::replace;
                    c.why = "it sets nothing: the packaged, commented-out file";
                } else {
                    bool same = true;
                    for (const auto& [k, v] : want) {
                        auto it = have.find(k);
                        const std::string eff =
                            it != have.end() ? it->second : (def.count(k) ? def[k] : "");
                        if (eff != v) same = false;
                    }
                    if (same) c.verdict = Verdict::unchanged;  // same settings, own wording
                }
            }
        }

        // The upstream file: one zdd already manages (its block, our ports) is kept as it is:
        // deploys rewrite it.
        {
            Upstream u;
            u.name = cfg_.upstream_name;
            u.servers.push_back({cfg_.host, cfg_.ports[0], 100, {}});
            u.keepalive = cfg_.upstream_keepalive;
            auto& up = add("upstream file", cfg_.upstream_file, render_upstream(u), 0644);
            if (up.old && up.verdict != Verdict::unchanged && in_use_by_zdd(*up.old)) {
                up.verdict = Verdict::unchanged;
            } else if (up.verdict == Verdict::kept || up.verdict == Verdict::replace) {
                up.why =
                    "it is not an upstream " + cfg_.upstream_name + " on ports " + cfg_.ports_text;
            }
        }

        auto& site = add("nginx site", site_file_, render_site(cfg_, o_), 0644);
        if (site.verdict == Verdict::create || site.verdict == Verdict::replace)
            default_site_ = stock_default_site(site_file_);
    }

    bool in_use_by_zdd(const std::string& text) const {
        try {
            Upstream u = parse_upstream(text, cfg_.upstream_name);
            if (u.servers.empty()) return false;
            for (const auto& s : u.servers)
                if (s.host != cfg_.host || (s.port != cfg_.ports[0] && s.port != cfg_.ports[1]))
                    return false;
            return true;
        } catch (const UpstreamParseError&) {
            return false;
        }
    }

    void print_plan() const {
        for (const auto& p : files_) {
            switch (p.verdict) {
                case Verdict::unchanged:
                    out_ << "[OK] " << p.what << " " << p.path.string() << ": unchanged\n";
                    break;
                case Verdict::kept:
                    out_ << "[KEPT] " << p.what << " " << p.path.string()
                         << ": differs from what init writes"
                         << (p.why.empty() ? "" : " (" + p.why + ")")
                         << "; left as it is (--force replaces it, keeping a backup)\n";
                    break;
                case Verdict::create:
                case Verdict::replace:
                    if (!o_.dry_run) break;  // apply() says what it wrote
                    out_ << "[" << (o_.dry_run ? "WOULD " : "")
                         << (p.verdict == Verdict::create ? "CREATE" : "REPLACE") << "] " << p.what
                         << " " << p.path.string() << (p.why.empty() ? "" : " (" + p.why + ")")
                         << "\n";
                    if (o_.dry_run) {
                        if (p.secret)
                            out_ << "    " << kTokenLine << "=<64 random hex digits> (mode 0600)\n";
                        else
                            print_indented(p.content);
                    }
                    break;
            }
        }
        if (default_site_ && o_.dry_run)
            out_ << "[WOULD DISABLE] Debian's default site " << default_site_->string()
                 << " (a symlink; it also answers on :80)\n";
    }

    void print_indented(const std::string& text) const {
        std::size_t pos = 0;
        while (pos < text.size()) {
            auto nl = text.find('\n', pos);
            out_ << "    " << text.substr(pos, nl == std::string::npos ? nl : nl - pos) << "\n";
            pos = nl == std::string::npos ? text.size() : nl + 1;
        }
    }

    void backup(const Planned& p) {
        fs::path dir = fs::path(cfg_.state_dir) / "init-backup";
        fs::path to = dir / (p.path.filename().string() + "." + utc_stamp());
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw FileError("cannot create " + dir.string() + ": " + ec.message());
        write_file_atomic(to, *p.old, 0600);
        out_ << "[BACKUP] " << p.path.string() << " -> " << to.string() << "\n";
    }

    void restore() noexcept {
        for (auto it = files_.rbegin(); it != files_.rend(); ++it) {
            if (!it->applied) continue;
            try {
                if (it->old) {
                    write_file_atomic(it->path, *it->old);
                } else {
                    std::error_code ec;
                    fs::remove(it->path, ec);
                }
                it->applied = false;
            } catch (const std::exception& e) {
                out_ << "[ERROR] could not put back " << it->path.string() << ": " << e.what()
                     << "\n";
            }
        }
        if (default_site_removed_) {
            std::error_code ec;
            fs::create_symlink(default_site_target_, *default_site_, ec);
            if (ec)
                out_ << "[ERROR] could not restore " << default_site_->string() << ": "
                     << ec.message() << "\n";
            default_site_removed_ = false;
        }
    }

    [[noreturn]] void fail(Outcome code, const std::string& msg) {
        restore();
        throw Failure(code, msg);
    }

    void apply() {
        try {
            for (auto& p : files_) {
                if (p.verdict != Verdict::create && p.verdict != Verdict::replace) continue;
                if (p.verdict == Verdict::replace) backup(p);
                std::error_code ec;
                fs::create_directories(p.path.parent_path(), ec);
                if (ec)
                    throw FileError("cannot create " + p.path.parent_path().string() + ": " +
                                    ec.message());
                p.applied = true;  // from here a failure must put it back
                write_file_atomic(p.path, p.content, p.mode);
                out_ << "[" << (p.verdict == Verdict::create ? "CREATED" : "REPLACED") << "] "
                     << p.what << " " << p.path.string() << "\n";
            }
            if (default_site_) {
                std::error_code ec;
                default_site_target_ = fs::read_symlink(*default_site_, ec);
                if (!ec) fs::remove(*default_site_, ec);
                if (ec)
                    throw FileError("cannot disable " + default_site_->string() + ": " +
                                    ec.message());
                default_site_removed_ = true;
                out_ << "[DISABLED] Debian's default site " << default_site_->string()
                     << " (restore: ln -s " << default_site_target_.string() << " "
                     << default_site_->string() << ")\n";
            }
        } catch (const FileError& e) {
            fail(Outcome::state, std::string(e.what()) + "; every file put back");
        }

        NginxOptions no;
        no.bin = cfg_.nginx_bin;
        no.conf = cfg_.nginx_conf;
        no.prefix = cfg_.nginx_prefix;
        no.pid_file = cfg_.nginx_pid_file;
        Nginx nginx(no);
        try {
            nginx.test();
        } catch (const NginxError& e) {
            fail(Outcome::nginx_test, std::string("nginx -t rejected the new config: ") + e.what() +
                                          "; every file put back, nginx serves as before");
        }
        try {
            nginx.master_pid();
        } catch (const NginxError&) {
            out_ << "[NOTE] nginx is not running: the config is in place and passes nginx -t; "
                    "start nginx (systemctl start nginx)\n";
            return;
        }
        try {
            nginx.reload();
            reloaded_ = true;
        } catch (const NginxError& e) {
            restore();
            // The master may have applied part of it: back to the old files for sure.
            try {
                nginx.reload();
            } catch (const NginxError&) {
            }
            throw Failure(Outcome::nginx_reload, std::string("nginx reload failed: ") + e.what() +
                                                     "; every file put back");
        }
    }

    static constexpr const char* kTokenLine = "VIBE_DEPLOYMENT_TOKEN";

    Config cfg_;
    InitOptions o_;
    std::ostream& out_;
    fs::path site_file_;
    std::vector<Planned> files_;
    std::optional<fs::path> default_site_;
    fs::path default_site_target_;
    bool default_site_removed_ = false;
    bool reloaded_ = false;
};

}  // namespace

std::string render_site(const Config& cfg, const InitOptions& o) {
    std::string t = kSiteTemplate;
    std::string listen;
    if (safe_word(o.listen, ""))
        listen = "    listen " + o.listen + ";\n    listen [::]:" + o.listen + ";\n";
    else
        listen = "    listen " + o.listen + ";\n";
    replace_once(t, "    listen 80;\n    listen [::]:80;\n", listen);
    replace_once(t, "server_name _;", "server_name " + o.server_name + ";");
    const std::string pass = "http://vibe_backend;";
    std::size_t at = 0, n = 0;
    while ((at = t.find(pass, at)) != std::string::npos) {
        t.replace(at, pass.size(), "http://" + cfg.upstream_name + ";");
        at += pass.size();
        ++n;
    }
    if (n == 0) throw std::logic_error("the nginx site template has no proxy_pass to adapt");
    if (!included_by_debian_nginx(cfg.upstream_file))
        replace_once(t, "#include /etc/nginx/conf.d/vibe-upstream.conf;",
                     "include " + cfg.upstream_file + ";");
    return "# Written by `zdd init` for service " + cfg.service +
           " (from packaging/nginx/zdd-site.conf).\n" + t;
}

void add_init_options(CLI::App& app, InitOptions& o) {
    app.add_option("--server-name", o.server_name, "server_name of the nginx site")
        ->capture_default_str();
    app.add_option("--listen", o.listen, "listen of the nginx site: PORT or ADDR:PORT")
        ->capture_default_str();
    app.add_option("--site-file", o.site_file,
                   "Where the nginx site goes (default /etc/nginx/sites-enabled/<service>)");
    app.add_flag("--dry-run", o.dry_run, "Print what would be written; write nothing");
    app.add_flag("--force", o.force,
                 "Replace files that differ (a backup goes to <state-dir>/init-backup/)");
}

void finalize_init(CLI::App& app, Config& cfg, InitOptions& o) {
    std::string path = cfg.config_file;
    if (path.empty()) path = process_env("ZDD_CONFIG").value_or("");
    if (path.empty()) path = kDefaultConfigFile;
    if (path == kNoConfigFile)
        throw ConfigError("zdd init writes a config file: --config none is not for init");
    std::error_code ec;
    cfg.config_file = fs::exists(path, ec) ? path : "";
    finalize(
        app, cfg,
        [](const std::string& name) -> std::optional<std::string> {
            if (name == "ZDD_CONFIG") return std::nullopt;  // resolved above
            return process_env(name);
        },
        /*default_file=*/"");  // the file init writes, read above when it exists
    o.config_out = path;
}

Outcome run_init(const Config& cfg, const InitOptions& o, std::ostream& out) {
    return InitRun(cfg, o, out).run();
}

}  // namespace zdd
