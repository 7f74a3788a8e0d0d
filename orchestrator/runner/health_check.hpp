// Waiting for a new instance to be healthy: GET http://HOST:PORT/health until it answers 200
// {"status":"ok"} (and the expected version, if one is given), the deadline passes, or the
// instance process exits.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace zdd {

struct HealthProbe {
    bool ok = false;
    std::string version;  // as reported, when the body had one
    std::string reason;   // one line when !ok: "connection refused", "HTTP 503", ...
};

// One GET /health with a per-request bound.
HealthProbe probe_health(const std::string& host, uint16_t port, const std::string& expect_version,
                         std::chrono::milliseconds request_timeout);

struct HealthOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 0;
    std::string expect_version;  // empty = any
    std::chrono::milliseconds timeout{60000};
    std::chrono::milliseconds interval{200};
    std::chrono::milliseconds request_timeout{2000};
    // Returns false once the instance process has exited: stop waiting at once.
    std::function<bool()> still_running;
};

struct HealthResult {
    bool ok = false;
    bool process_exited = false;
    int attempts = 0;
    std::string version;
    std::string last_failure;  // one line, e.g. "health check failed after 60.0s (12 attempts):
                               // HTTP 503"
};

HealthResult wait_healthy(const HealthOptions& o);

}  // namespace zdd
