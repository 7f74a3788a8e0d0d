// drain-inspector serve: /metrics over HTTP (cpp-httplib), a fresh snapshot per scrape.
// Hardened for a port others can reach: short read/write timeouts, small header and body
// limits, a worker pool larger than a handful of slow clients, and an exclusive bind.
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <iostream>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "inspector/inspector_commands.hpp"
#include "render/prometheus_text.hpp"
#include "inspector/stop_signals.hpp"

namespace drainmon::inspector {

namespace {

struct ListenAddress {
    std::string host;
    int port = 0;
};

ListenAddress parse_listen(const std::string& s) {
    auto bad = [&] {
        return UsageError("--listen '" + s +
                          "' is not ADDR:PORT (e.g. 127.0.0.1:9187 or [::1]:9187)");
    };
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) throw bad();
    std::string host = s.substr(0, colon);
    if (host.front() == '[') {
        if (host.back() != ']') throw bad();
        host = host.substr(1, host.size() - 2);
    }
    int port = 0;
    try {
        size_t used = 0;
        port = std::stoi(s.substr(colon + 1), &used);
        if (used != s.size() - colon - 1) throw bad();
    } catch (const std::logic_error&) {
        throw bad();
    }
    if (port < 1 || port > 65535 || host.empty()) throw bad();
    return {host, port};
}

// Each connection holds a worker while it sends its request: with cpp-httplib's default of 8
// workers, 8 slow clients starved every scrape. 64 workers and a 2 s read timeout (a client
// idle that long is dropped) keep room for Prometheus under dozens of slow clients.
constexpr size_t kWorkers = 64;
constexpr time_t kIoTimeoutSec = 2;
constexpr size_t kMaxBody = 64 * 1024;  // scrapes are GETs; a body is refused (413), not stored

// cpp-httplib's default sets SO_REUSEPORT, which let a second serve bind the same address and
// take half the scrapes. SO_REUSEADDR only (restart over TIME_WAIT): a second bind fails.
void exclusive_bind_options(socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

}  // namespace

int run_serve(const ServeOptions& o) {
    ListenAddress addr = parse_listen(o.listen);
    StopSignals stop;  // before httplib starts its worker threads, which inherit the mask
    auto backend = open_backend(o.common);
    stay_resident(*backend);  // `snapshot` and `metrics` then read this monitor
    std::mutex backend_mu;    // backends are not thread-safe; scrapes come from a thread pool

    httplib::Server svr;
    svr.new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
    svr.set_socket_options(exclusive_bind_options);
    svr.set_read_timeout(kIoTimeoutSec, 0);
    svr.set_write_timeout(kIoTimeoutSec, 0);
    svr.set_keep_alive_timeout(kIoTimeoutSec);
    svr.set_payload_max_length(kMaxBody);
    // One request per connection: cpp-httplib reads what follows a GET as the next request
    // line, without a bound, so a GET with a 60 MB body grew the process by 60 MB. Closing
    // after the answer drops whatever the client still sends; Prometheus reconnects anyway.
    svr.set_keep_alive_max_count(1);
    svr.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
        const std::string len = req.get_header_value("Content-Length");
        if (req.has_header("Transfer-Encoding") || (!len.empty() && len != "0")) {
            res.status = 413;
            res.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
        try {
            std::lock_guard lock(backend_mu);
            std::string text = render_prometheus(backend->snapshot(ports_to_report(o.common)));
            res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
        } catch (const std::exception& e) {
            res.status = 500;
            res.set_content(std::string("snapshot failed: ") + e.what() + "\n", "text/plain");
        }
    });
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("drain-inspector: metrics at /metrics\n", "text/plain");
    });
    errno = 0;
    if (!svr.bind_to_port(addr.host.c_str(), addr.port)) {
        if (errno == EADDRINUSE) {
            std::cerr << "drain-inspector: cannot listen on " << o.listen
                      << ": address already in use (another serve or another program)" << std::endl;
            return kExitAddressInUse;
        }
        throw UsageError("cannot listen on " + o.listen + " (not a local address?)");
    }

    drainmon::UniqueFd done(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    std::atomic<bool> stopped_by_signal{false};
    // Turns SIGINT/SIGTERM into svr.stop(); stop() is a no-op until listen has started, so
    // it repeats until listen returns.
    std::thread stopper([&] {
        bool signalled = false;
        for (;;) {
            pollfd fds[2] = {{stop.fd(), POLLIN, 0}, {done.get(), POLLIN, 0}};
            ::poll(fds, 2, signalled ? 50 : -1);
            if (fds[1].revents & POLLIN) return;
            if (stop.check()) {
                signalled = true;
                stopped_by_signal = true;
                svr.stop();
            }
        }
    });
    spdlog::info("serving metrics on http://{}/metrics", o.listen);
    bool ok = svr.listen_after_bind();
    uint64_t one = 1;
    if (::write(done.get(), &one, sizeof one) < 0) std::perror("eventfd write");
    stopper.join();
    if (!ok && !stopped_by_signal)
        throw UsageError("the metrics server on " + o.listen + " failed");
    return kExitOk;
}

}  // namespace drainmon::inspector
