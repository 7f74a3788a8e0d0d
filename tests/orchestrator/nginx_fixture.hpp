// A real nginx (from apt) in its own prefix on a free loopback port, for tests. The main conf
// includes DIR/upstream.conf (the file zdd manages) and DIR/extra.conf (for tests that need
// more servers), proxies `listen_port` to the upstream, and keeps its pid file, logs and temp
// dirs in DIR. Stopped (QUIT, then KILL of the master and its workers) on destruction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "nginx/nginx_control.hpp"
#include "temp_dir.hpp"

namespace zdd_test {

class NginxFixture {
  public:
    // upstream_text: the initial upstream.conf (must define `upstream_name`).
    NginxFixture(const std::string& upstream_name, const std::string& upstream_text);
    ~NginxFixture();
    NginxFixture(const NginxFixture&) = delete;
    NginxFixture& operator=(const NginxFixture&) = delete;

    std::filesystem::path dir() const { return dir_.path(); }
    std::filesystem::path conf() const { return dir_ / "nginx.conf"; }
    std::filesystem::path upstream_file() const { return dir_ / "upstream.conf"; }
    std::filesystem::path extra_file() const { return dir_ / "extra.conf"; }
    std::filesystem::path pid_file() const { return dir_ / "nginx.pid"; }
    uint16_t listen_port() const { return port_; }
    // Options for zdd::Nginx pointing at this instance (pid file left to discovery).
    zdd::NginxOptions options() const;
    pid_t master() const { return master_; }

  private:
    TempDir dir_{"zdd-nginx"};
    uint16_t port_ = 0;
    pid_t master_ = -1;
};

// GET http://127.0.0.1:port/path with curl (a real client); returns the body or "" on error.
std::string http_get(uint16_t port, const std::string& path);

}  // namespace zdd_test
