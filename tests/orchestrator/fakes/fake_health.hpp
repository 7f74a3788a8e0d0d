// A fake HealthChecker: the step-2 wait answers `result`; single probes answer `probe_result`.
// Every wait's options are kept.
#pragma once

#include <functional>
#include <vector>

#include "runner/health_checker.hpp"

namespace zdd_fake {

class FakeHealth : public zdd::HealthChecker {
  public:
    FakeHealth() {
        result.ok = true;
        result.version = "2.0";
        probe_result.ok = true;
        probe_result.version = "1.0";
    }
    zdd::HealthResult result;
    zdd::HealthProbe probe_result;
    std::vector<zdd::HealthOptions> waits;
    int probes = 0;
    std::function<void()> on_probe;  // runs at each single probe, before it answers

    zdd::HealthResult wait_healthy(const zdd::HealthOptions& o) override {
        waits.push_back(o);
        return result;
    }
    zdd::HealthProbe probe(const std::string&, uint16_t, const std::string&,
                           std::chrono::milliseconds) override {
        ++probes;
        if (on_probe) on_probe();
        return probe_result;
    }
};

}  // namespace zdd_fake
