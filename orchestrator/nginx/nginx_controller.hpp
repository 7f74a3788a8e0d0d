// What the deploy flows need from nginx, as one seam: the upstream file zdd owns and the nginx
// that runs it. The host's implementation (flow/host_parts.cpp) drives the real nginx through
// Nginx and UpstreamFile; unit tests of the flows pass a fake that records every change.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nginx/nginx_control.hpp"
#include "nginx/nginx_upstream.hpp"

namespace zdd {

class NginxController {
  public:
    virtual ~NginxController() = default;

    virtual const std::filesystem::path& upstream_path() const = 0;
    // The upstream file's text; nullopt when it does not exist.
    virtual std::optional<std::string> read_upstream() const = 0;
    // The safe update (apply_upstream): write, `nginx -t`, reload, confirm; on failure the
    // previous file is back and NginxError (or the write's error) is thrown.
    virtual void apply(const Upstream& u) = 0;
    // Undoes the last apply() after it took: the previous file back, `nginx -t`, reload.
    // Throws what the test or the reload threw.
    virtual void revert() = 0;
    // True when nginx's current workers started after the upstream file was last written, so
    // the config they run includes it; false when that is not so or cannot be told.
    virtual bool runs_upstream_file() const = 0;
    // Workers an earlier reload left shutting down, oldest first. Throws NginxError.
    virtual std::vector<ShuttingDownWorker> shutting_down_workers() const = 0;
};

}  // namespace zdd
