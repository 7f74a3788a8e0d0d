// Tests' handle on zdd-demo-app: the real binary started as a child process on a free port,
// and real HTTP requests to it through libcurl.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace zdd_demo_test {

std::string demo_app_binary();                   // $ZDD_BUILD_DIR/examples/demo-app/zdd-demo-app
std::string sse_load_binary();                   // the load client next to it
std::string sse_resume_binary();                 // the resuming (EventSource-like) client
std::string temp_path(const std::string& stem);  // a fresh file name under $TMPDIR

struct HttpResult {
    long status = 0;  // 0: no HTTP answer (see error)
    std::string body;
    std::string content_type;
    std::string headers;  // the raw response head
    std::string error;
};
// One GET on a fresh connection (closed afterwards), bounded by timeout_ms.
HttpResult http_get(const std::string& url, const std::vector<std::string>& headers = {},
                    long timeout_ms = 5000);
// Any method; `body` nullopt sends none and no Content-Length (as `curl -X POST` does).
HttpResult http_request(const std::string& method, const std::string& url,
                        const std::vector<std::string>& headers = {},
                        const std::optional<std::string>& body = std::nullopt,
                        long timeout_ms = 5000);

class DemoApp {
  public:
    static constexpr const char* kToken = "test-token-5f1c";
    struct Options {
        std::map<std::string, std::string> env = {{"VIBE_DEPLOYMENT_TOKEN", kToken},
                                                  {"DEPLOYMENT_COLOR", "blue"},
                                                  {"APP_VERSION", "test-1.0"}};
        std::vector<std::string> unset_env;  // removed from the app's environment (env -u)
        std::vector<std::string> args;
        bool choose_port = true;  // pass --port with a free port
    };
    DemoApp();  // default options
    explicit DemoApp(Options options);

    uint16_t port() const { return port_; }
    std::string url(const std::string& path) const;
    zdd_test::Subprocess& process() { return *proc_; }
    std::string log() const;  // what the app wrote to stderr so far

    // GET /health/deployment with the right token; throws unless 200 with JSON.
    nlohmann::json deployment() const;
    // POST /health/deployment/handoff with the right token; the raw result.
    HttpResult handoff() const;
    // Polls the report until pred holds or timeout; returns the last report.
    bool wait_report(const std::function<bool(const nlohmann::json&)>& pred,
                     std::chrono::milliseconds timeout) const;

  private:
    uint16_t port_ = 0;
    std::string log_path_;
    std::unique_ptr<zdd_test::Subprocess> proc_;
};

// `curl` as a child process, for clients that must be killable or outlive a signal:
// GET url with -N (no buffering), the body written to out_path.
zdd_test::Subprocess curl_child(const std::string& url, const std::string& out_path);

std::string read_file(const std::string& path);

}  // namespace zdd_demo_test
