// One host for end-to-end tests: a real nginx (tests/orchestrator's NginxFixture) with an
// SSE-ready server in front of the upstream zdd manages, free loopback ports for blue and
// green, a private token file, a state dir, and `zdd` run as a real process against all of it.
// On destruction every instance still listening on the test's ports is killed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nginx_fixture.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

namespace zdd_e2e {

struct ZddRun {
    int status = -1;  // exit code (-1: did not finish in time)
    std::string out;
    std::string err;
};

class E2eHost {
  public:
    static constexpr const char* kToken = "e2e-token-7d3a91";

    E2eHost();
    ~E2eHost();

    uint16_t blue_port() const { return blue_; }
    uint16_t green_port() const { return green_; }
    uint16_t nginx_port() const { return sse_port_; }  // the server clients use
    std::filesystem::path dir() const { return tmp_.path(); }
    std::filesystem::path upstream_file() const { return nginx_->upstream_file(); }
    zdd_test::NginxFixture& nginx() { return *nginx_; }

    std::string zdd_binary() const;       // $ZDD_BUILD_DIR/orchestrator/zdd
    std::string demo_app_binary() const;  // $ZDD_BUILD_DIR/examples/demo-app/zdd-demo-app
    // The flags that point zdd at this host (state dir, status file, upstream, nginx, ports,
    // token file, probe URL).
    std::vector<std::string> host_flags() const;
    // `zdd SUB <host flags> EXTRA...` to completion (bounded). env adds to zdd's environment.
    ZddRun zdd(const std::string& sub, const std::vector<std::string>& extra = {},
               const std::map<std::string, std::string>& env = {},
               std::chrono::seconds bound = std::chrono::seconds(90));
    // The same, left running; stderr goes to err_path.
    zdd_test::Subprocess zdd_async(const std::string& sub, const std::vector<std::string>& extra,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& err_path);

    nlohmann::json state() const;  // state.json (null when missing)
    std::string phase() const;     // deploy.phase, "" when none
    bool wait_phase(const std::string& phase, std::chrono::milliseconds bound) const;
    int pid_of(const std::string& color) const;  // recorded pid, 0 if none

    // GET /health/deployment through nginx with the token: the answering color ("" on error).
    std::string color_through_nginx() const;
    // GET /health/deployment on a color's port directly.
    nlohmann::json deployment_report(uint16_t port) const;

  private:
    zdd_test::TempDir tmp_{"zdd-e2e"};
    std::unique_ptr<zdd_test::NginxFixture> nginx_;
    uint16_t blue_ = 0, green_ = 0, sse_port_ = 0;
};

std::string read_file(const std::filesystem::path& p);
bool process_alive(int pid);  // exists and not a zombie

}  // namespace zdd_e2e
