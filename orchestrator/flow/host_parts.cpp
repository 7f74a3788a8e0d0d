#include "flow/host_parts.hpp"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "runner/port_owner.hpp"
#include "runner/proc.hpp"

namespace zdd {

namespace {

// Seconds since boot (CLOCK_BOOTTIME, the clock of /proc/<pid>/stat's start time) at which the
// upstream file was last written; nullopt when it cannot be read.
std::optional<double> file_written_since_boot(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return std::nullopt;
    timespec real{}, boot{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    auto secs = [](const timespec& t) { return t.tv_sec + t.tv_nsec / 1e9; };
    return secs(st.st_mtim) - (secs(real) - secs(boot));
}

class HostNginx : public NginxController {
  public:
    HostNginx(NginxOptions o, std::filesystem::path upstream)
        : nginx_(std::move(o)), file_(std::move(upstream)) {}
    const std::filesystem::path& upstream_path() const override { return file_.path(); }
    std::optional<std::string> read_upstream() const override { return file_.read(); }
    void apply(const Upstream& u) override { apply_upstream(nginx_, file_, u); }
    void revert() override {
        file_.restore();
        nginx_.test();
        nginx_.reload();
    }
    bool runs_upstream_file() const override {
        auto written = file_written_since_boot(file_.path());
        if (!written) return false;
        try {
            const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
            std::vector<pid_t> old;
            for (const auto& w : nginx_.shutting_down_workers()) old.push_back(w.pid);
            double newest = -1;
            for (pid_t pid : nginx_.worker_pids()) {
                if (std::find(old.begin(), old.end(), pid) != old.end()) continue;
                if (auto st = read_proc_stat(pid))
                    newest = std::max(newest, static_cast<double>(st->start_time) / hz);
            }
            // start_time counts whole clock ticks: allow one.
            return newest >= 0 && newest + 1.0 / hz >= *written;
        } catch (const std::exception&) {
            return false;
        }
    }
    std::vector<ShuttingDownWorker> shutting_down_workers() const override {
        return nginx_.shutting_down_workers();
    }

  private:
    Nginx nginx_;
    UpstreamFile file_;
};

class HostPorts : public PortProbe {
  public:
    bool listening(uint16_t port) override { return port_listening(port); }
    std::optional<ProcessRef> listener(uint16_t port) override {
        if (auto pid = listener_pid(port)) return process_ref(*pid);
        return std::nullopt;
    }
};

class HttpHealth : public HealthChecker {
  public:
    HealthResult wait_healthy(const HealthOptions& o) override { return zdd::wait_healthy(o); }
    HealthProbe probe(const std::string& host, uint16_t port, const std::string& expect_version,
                      std::chrono::milliseconds request_timeout) override {
        return probe_health(host, port, expect_version, request_timeout);
    }
};

class DrainmonMonitors : public MonitorFactory {
  public:
    explicit DrainmonMonitors(std::string kind) : kind_(std::move(kind)) {}
    std::unique_ptr<drainmon::Backend> open(const drainmon::BackendOptions& opts,
                                            std::string* note) override {
        return drainmon::make_backend(drainmon::parse_backend_kind(kind_), opts, note);
    }

  private:
    std::string kind_;
};

}  // namespace

ContextParts host_parts(const Config& cfg) {
    ContextParts p;
    p.store = std::make_unique<StateStore>(cfg.state_dir);
    p.nginx = std::make_unique<HostNginx>(nginx_options(cfg), cfg.upstream_file);
    p.runner = make_runner(cfg);
    p.ports = std::make_unique<HostPorts>();
    p.health = std::make_unique<HttpHealth>();
    p.monitors = std::make_unique<DrainmonMonitors>(cfg.backend);
    return p;
}

}  // namespace zdd
