// What in nginx's effective config would hurt a zero-downtime deploy, for `zdd doctor`:
// worker_shutdown_timeout vs the drain timeout, and per location proxying zdd's upstream:
// buffering, gzip on streams, read timeout, HTTP/1.1, keepalive's Connection "", WebSocket
// headers; plus the upstream file being included at all. Config tree in, findings out (no
// process runs; only the upstream file's path is resolved on disk).
#pragma once

#include <string>
#include <vector>

#include "core/config.hpp"
#include "nginx/nginx_conf_scan.hpp"

namespace zdd {

struct DoctorFinding {
    enum class Level {
        fix,   // would hurt a deploy: counts toward exit code 1
        warn,  // hurts the host over time, not this deploy: printed, not counted
        note,  // worth knowing, harmless as it is
    };
    Level level = Level::fix;
    std::string where;  // "FILE:LINE" or "" when not tied to a line
    std::string text;   // what is wrong, then what to change
};

// nginx's inheritance rules apply (inner level wins; proxy_set_header all-or-nothing).
std::vector<DoctorFinding> check_nginx_conf(const NginxConf& conf, const Config& cfg);

}  // namespace zdd
