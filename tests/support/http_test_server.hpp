// A real HTTP server (cpp-httplib) on 127.0.0.1, served from its own thread for the test's
// lifetime: the apps, reports and probes the clients under test talk to. Routes go on server()
// before start(); the port stays bound from start() on (no free-port race).
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_support.hpp"

namespace zdd_test {

class HttpTestServer {
  public:
    HttpTestServer() = default;
    HttpTestServer(const HttpTestServer&) = delete;
    HttpTestServer& operator=(const HttpTestServer&) = delete;
    ~HttpTestServer() {
        svr_.stop();
        if (thread_.joinable()) thread_.join();
    }

    httplib::Server& server() { return svr_; }

    void start() {
        const int port = svr_.bind_to_any_port("127.0.0.1");
        if (port <= 0) throw std::runtime_error("HttpTestServer: cannot bind 127.0.0.1");
        port_ = static_cast<uint16_t>(port);
        thread_ = std::thread([this] { svr_.listen_after_bind(); });
        if (!wait_until([this] { return svr_.is_running(); }, std::chrono::seconds(5),
                        std::chrono::milliseconds(5)))
            throw std::runtime_error("HttpTestServer: not running after 5 s");
    }

    uint16_t port() const { return port_; }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }

  private:
    httplib::Server svr_;
    uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace zdd_test
