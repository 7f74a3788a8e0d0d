// A Context on fakes for the flow tests: the state in memory (FakeStateStore), nginx
// (FakeNginx), the instances (FakeRunner), the ports, the health check and the monitor, with
// real files only in a temp dir (releases, token, status file). Color ports come from
// free_port(), so the real app polls the flows still make (token check, drain) are refused.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <sstream>

#include "fakes/fake_health.hpp"
#include "fakes/fake_monitor.hpp"
#include "fakes/fake_nginx.hpp"
#include "fakes/fake_ports.hpp"
#include "fakes/fake_runner.hpp"
#include "fakes/fake_state_store.hpp"
#include "fakes/journal.hpp"
#include "core/exit_codes.hpp"
#include "flow/deploy_context.hpp"
#include "flow/interrupts.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

namespace zdd {
// Catch prints an outcome with the exit code the CLI gives it.
inline std::ostream& operator<<(std::ostream& o, Outcome x) {
    return o << "outcome with exit code " << exit_code(x);
}
}  // namespace zdd

namespace zdd_fake {

class FlowHarness {
  public:
    zdd_test::TempDir tmp{"zdd-flow"};
    zdd::Config cfg;
    std::ostringstream err;
    Journal journal;
    MonitorScript monitor;
    FakeStateStore* store = nullptr;
    FakeNginx* nginx = nullptr;
    FakeRunner* runner = nullptr;
    FakePorts* ports = nullptr;
    FakeHealth* health = nullptr;
    std::unique_ptr<zdd::Context> ctx;

    FlowHarness() {
        zdd::install_interrupt_handlers();
        zdd::reset_interrupts();
        cfg.ports = {zdd_test::free_port(), zdd_test::free_port()};
        cfg.state_dir = tmp.file("state");
        std::filesystem::create_directory(cfg.state_dir);
        ::chmod(cfg.state_dir.c_str(), 0700);
        cfg.upstream_file = tmp.file("upstream.conf");
        cfg.status_file = tmp.file("deployment.status");
        cfg.token_file =
            tmp.write("deployment.env", "VIBE_DEPLOYMENT_TOKEN=flow-test-token\n",
                      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        cfg.drain_timeout = 30;
        cfg.health_timeout = 5;

        zdd::ContextParts parts;
        auto s = std::make_unique<FakeStateStore>(cfg.state_dir);
        auto n = std::make_unique<FakeNginx>(
            cfg.upstream_file, journal,
            std::map<uint16_t, std::string>{{cfg.ports[0], "blue"}, {cfg.ports[1], "green"}});
        auto r = std::make_unique<FakeRunner>(journal);
        auto p = std::make_unique<FakePorts>();
        auto h = std::make_unique<FakeHealth>();
        store = s.get();
        nginx = n.get();
        runner = r.get();
        ports = p.get();
        health = h.get();
        parts.store = std::move(s);
        parts.nginx = std::move(n);
        parts.runner = std::move(r);
        parts.ports = std::move(p);
        parts.health = std::move(h);
        parts.monitors = std::make_unique<FakeMonitors>(monitor, journal);
        ctx = std::make_unique<zdd::Context>(cfg, err, std::move(parts));
    }
    ~FlowHarness() { zdd::reset_interrupts(); }

    uint16_t port(zdd::Color c) const { return zdd::port_of(c, cfg.ports); }

    // An executable file to deploy (a distinct content makes a distinct release).
    std::filesystem::path binary(const std::string& name) {
        return tmp.write(name, "#!/bin/sh\n# " + name + "\nexec sleep 60\n",
                         std::filesystem::perms::owner_all);
    }
    // A release in the state dir, as a deploy leaves it.
    std::filesystem::path release(const std::string& name) {
        return ctx->releases.add(binary(name)).binary;
    }

    // `c` runs (from `rel`, version `version`) and nginx serves it alone; saved state.
    void serving(zdd::Color c, const std::filesystem::path& rel, const std::string& version) {
        zdd::State s = store->current;
        s.active = c;
        s.instances[c] = instance(c, rel, version, true);
        store->current = s;
        nginx->text = zdd::render_upstream(ctx->upstream_for({{c, 100}}));
    }
    // A record of `c` (running or not) in the saved state.
    zdd::InstanceRecord instance(zdd::Color c, const std::filesystem::path& rel,
                                 const std::string& version, bool running) {
        zdd::InstanceRecord rec;
        rec.port = port(c);
        if (running) {
            auto ref = runner->run(c);
            rec.pid = ref.pid;
            rec.pid_start_time = ref.start_time;
        }
        rec.release = rel.string();
        rec.version = version;
        rec.started_at = zdd::unix_now() - 60;
        return rec;
    }

    // The phases of the saved deploy record, in order.
    std::vector<zdd::Phase> phases() const {
        std::vector<zdd::Phase> out;
        if (store->current.deploy)
            for (const auto& p : store->current.deploy->phases) out.push_back(p.phase);
        return out;
    }
    // How a flow ended: returned, or thrown as a Failure.
    template <class F>
    zdd::Outcome outcome(F&& f) {
        try {
            return f();
        } catch (const zdd::Failure& e) {
            failure = e.what();
            return e.outcome;
        }
    }
    std::string failure;  // the last Failure's line
};

}  // namespace zdd_fake
