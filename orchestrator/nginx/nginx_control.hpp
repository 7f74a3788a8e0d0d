// Driving the running nginx: `nginx -t`, `nginx -s reload`, and confirming that a reload took.
// `nginx -s reload` exits 0 even when the master then fails to apply the new config (a busy
// `listen` port, say): the only proof is that the master started new worker processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "nginx/nginx_upstream.hpp"

namespace zdd {

struct NginxError : std::runtime_error {
    enum class Kind {
        test_failed,       // `nginx -t` rejected the config
        reload_failed,     // `nginx -s reload` itself failed (no master, bad pid file, ...)
        reload_not_taken,  // the signal was sent but no new workers appeared in time
        not_running,       // no master process behind the pid file
    };
    NginxError(Kind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
    Kind kind;
};

// A worker an earlier reload told to quit that still holds connections (its title says "is
// shutting down"): it serves them with the old config until they close or
// worker_shutdown_timeout ends them.
struct ShuttingDownWorker {
    pid_t pid = 0;
    double age_s = 0;  // since the worker started
};

struct NginxOptions {
    std::string bin = "nginx";
    std::string conf;      // -c; empty = nginx's default
    std::string prefix;    // -p; empty = nginx's default
    std::string pid_file;  // empty = the conf's `pid` directive, else nginx's compiled default
    std::chrono::milliseconds command_timeout{30000};  // bound for nginx -t / -s reload
    std::chrono::milliseconds reload_timeout{10000};   // bound for the whole reload to take
};

class Nginx {
  public:
    explicit Nginx(NginxOptions opts) : o_(std::move(opts)) {}

    // `nginx -t`: throws NginxError(test_failed) with nginx's first error line, e.g.
    // "nginx: [emerg] open() \"/x.conf\" failed (2: No such file or directory) in ...:12".
    void test() const;

    std::filesystem::path pid_file() const;  // resolved as described in NginxOptions
    pid_t master_pid() const;                // throws NginxError(not_running)
    std::vector<pid_t> worker_pids() const;  // the master's live children, sorted
    // The master's children that are shutting down, oldest first. Throws NginxError(not_running).
    std::vector<ShuttingDownWorker> shutting_down_workers() const;

    // Waits (bounded) until the master is between reloads, so that workers of a reload someone
    // else started are not taken for ours; then sends the reload and waits (bounded, the same
    // reload_timeout) for a worker pid the master did not have before.
    // Throws NginxError(reload_failed | reload_not_taken | not_running).
    void reload() const;

    const NginxOptions& options() const { return o_; }

  private:
    std::vector<std::string> base_argv() const;
    NginxOptions o_;
};

// The safe update: write the upstream file, `nginx -t`, reload, confirm. On any failure the
// previous file content is restored (and nginx keeps running the old config) before the
// NginxError is rethrown.
void apply_upstream(const Nginx& nginx, UpstreamFile& file, const Upstream& upstream);

}  // namespace zdd
