// The health check as a seam: the wait for a new instance's /health (step 2) and the single
// probes of an adopted instance and of a held canary. The host's is health_check.hpp over
// HTTP; unit tests of the flows pass a fake.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "runner/health_check.hpp"

namespace zdd {

class HealthChecker {
  public:
    virtual ~HealthChecker() = default;
    virtual HealthResult wait_healthy(const HealthOptions& o) = 0;
    virtual HealthProbe probe(const std::string& host, uint16_t port,
                              const std::string& expect_version,
                              std::chrono::milliseconds request_timeout) = 0;
};

}  // namespace zdd
