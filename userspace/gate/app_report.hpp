// The app's own account of its work: GET /health/deployment with the deployment token
// (docs/health-contract.md), over a fresh connection that is closed after each poll so the
// gate can leave it out of the kernel's count by its 4-tuple.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "gate/drain_gate.hpp"
#include "monitor/socket_sample.hpp"

namespace drainmon {

enum class AppOutcome {
    Report,        // 200 with a well-formed body
    NoReport,      // timeout, refused, 5xx, malformed JSON, ...: the gate goes on without it
    Unauthorized,  // 401: the token is wrong, a configuration error
};

struct AppPoll {
    AppOutcome outcome = AppOutcome::NoReport;
    AppReport report;      // when outcome == Report
    std::string reason;    // one line when it is not a report
    long http_status = 0;  // 0 when no HTTP answer came
    // The poll's connection as the server sees it: {server endpoint (the app's ip:port),
    // client endpoint}; the form Backend::snapshot's `exclude` takes. Empty if none was made.
    std::optional<std::pair<Endpoint, Endpoint>> connection;
};

// Parses the JSON body of /health/deployment; throws std::invalid_argument (one line) when it
// is not an object or activeStreams/activeRequests are missing or not integers.
AppReport parse_app_report(const std::string& body);

struct CurlHandleDeleter {
    void operator()(void* curl) const;
};

class AppReportClient {
  public:
    AppReportClient(std::string url, std::string token,
                    std::chrono::milliseconds timeout = std::chrono::seconds(2));
    AppPoll poll();
    const std::string& url() const { return url_; }

  private:
    std::string url_;
    std::string token_;
    std::chrono::milliseconds timeout_;
    std::unique_ptr<void, CurlHandleDeleter> curl_;  // CURL*, reused; its connections are not
};

// A token file is unreadable, empty, owned by another user or accessible by group or others.
// what() is one line.
struct TokenFileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Reads the deployment token: an env file with a `VIBE_DEPLOYMENT_TOKEN=...` line (quotes and
// an `export` prefix allowed) or a file holding only the token. Refuses a file that is not
// owned by root or the user running us, or that group or others can access (0600/0400 only).
std::string read_token_file(const std::string& path);

}  // namespace drainmon
