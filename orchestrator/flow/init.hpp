// `zdd init`: gets a stock nginx host ready for a first deploy in one command. Writes the nginx
// site (the shipped packaging/nginx/zdd-site.conf, adapted), the upstream file, a random token
// file (0600) unless one exists and the config file; then `nginx -t`, a confirmed reload and
// `zdd doctor`'s checks. Idempotent; never replaces an operator's differing file without
// --force (and then keeps a backup in <state-dir>/init-backup/); any failure puts every file
// back, so nginx keeps serving what it served before.
#pragma once

#include <ostream>
#include <string>

#include "core/config.hpp"
#include "core/outcome.hpp"

namespace CLI {
class App;
}

namespace zdd {

struct InitOptions {
    std::string server_name = "_";  // the site's server_name
    std::string listen = "80";      // the site's listen: "80" (plus [::]:80) or "ADDR:PORT"
    std::string site_file;          // empty -> /etc/nginx/sites-enabled/<service>
    std::string config_out;         // set by finalize_init: where zdd.conf goes
    bool dry_run = false;
    bool force = false;
};

// Registers --server-name, --listen, --site-file, --dry-run, --force on `app`.
void add_init_options(CLI::App& app, InitOptions& o);

// finalize() for init: the config file (--config, else ZDD_CONFIG, else /etc/zdd/zdd.conf) is
// both read (when it exists, so a second run sees the first run's settings) and written.
void finalize_init(CLI::App& app, Config& cfg, InitOptions& o);

// Returns Outcome::ok, Outcome::kept (a differing file was kept), Outcome::doctor (ready, but
// doctor names something to fix), Outcome::nginx_test / Outcome::nginx_reload (files restored),
// Outcome::state (a file could not be written; files restored). Progress and findings go to `out`.
Outcome run_init(const Config& cfg, const InitOptions& o, std::ostream& out);

// The site text for these settings (exposed for tests). Throws std::logic_error if the
// template lost a line it adapts.
std::string render_site(const Config& cfg, const InitOptions& o);

}  // namespace zdd
