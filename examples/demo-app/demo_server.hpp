// The demo app's HTTP server: the health contract endpoints, /stream/test, /work and /, served
// by cpp-httplib with one thread per connection (ConnectionPool) and a connection loop that
// honours the app's drain and cancel phases.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "app_state.hpp"
#include "overflow_lane.hpp"

namespace zdd_demo {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: any free port
    size_t max_connections = 4096;
    std::string token;  // VIBE_DEPLOYMENT_TOKEN; empty: not configured (report answers 503)
    size_t keep_alive_max_requests = 100;
    std::chrono::milliseconds keep_alive_timeout{5000};
    std::chrono::milliseconds read_timeout{5000};
    std::chrono::milliseconds write_timeout{5000};
    // Past max_connections: connections held at once by the overflow lane (health endpoints
    // only), and how long it waits for their request head.
    size_t overflow_held = 128;
    std::chrono::milliseconds overflow_head_timeout{2000};
    long fail_health_after_s = 0;  // fault for tests: /health answers 503 from then on; 0 = never
    // The reconnect delay a handed-over SSE stream asks its client for (`retry:`).
    std::chrono::milliseconds handoff_retry{200};
};

// A JSON answer of the health endpoints, for httplib's routes and the overflow lane alike.
struct JsonAnswer {
    int status = 200;
    nlohmann::json body;
    bool www_authenticate = false;  // 401: WWW-Authenticate: Bearer
    const char* allow = nullptr;    // 405: the Allow header
};

constexpr long kMaxWorkMs = 10 * 60 * 1000;

class DemoServer final : private httplib::Server {
  public:
    DemoServer(AppState& state, ServerOptions options);

    // Binds and listens; returns the port (the chosen one when options.port is 0), or -1.
    int bind();
    // Accepts and serves until the listener is closed, then returns once every connection
    // has ended. True when the listener was closed by close_listener().
    bool serve();
    // Stops accepting (the listening socket goes away; new connections are refused by the
    // kernel); connections already accepted carry on. Safe from any thread, idempotent.
    void close_listener();

    size_t refused_connections() const { return lane_.refused(); }

  private:
    // Replaces httplib's per-connection loop: refusal at capacity, our own socket stream,
    // and idle keep-alive connections that leave as soon as the app stops.
    bool process_and_close_socket(int sock) override;
    // Waits for the next request on a connection; false when it should close instead.
    bool await_request(int fd, bool first);
    void add_routes();
    JsonAnswer health_answer() const;
    JsonAnswer deployment_answer(const std::string& authorization) const;
    // POST /health/deployment/handoff: 202 and the streams to hand over (same auth as above).
    JsonAnswer handoff_answer(const std::string& authorization);
    // The overflow lane's answer for a health endpoint; empty for anything else.
    std::string overflow_answer(const RequestHead& head);

    AppState& state_;
    const ServerOptions options_;
    std::atomic<bool> listener_closed_{false};
    OverflowLane lane_;  // last: its thread calls overflow_answer() until it is destroyed
};

}  // namespace zdd_demo
