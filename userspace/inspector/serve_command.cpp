// drain-inspector serve: /metrics over HTTP (cpp-httplib), a fresh snapshot per scrape.
// Hardened for a port others can reach (hardened_http_server.hpp).
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

#include "inspector/hardened_http_server.hpp"
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

}  // namespace

int run_serve(const ServeOptions& o) {
    ListenAddress addr = parse_listen(o.listen);
    StopSignals stop;  // before httplib starts its worker threads, which inherit the mask
    auto backend = open_backend(o.common);
    stay_resident(*backend);  // `snapshot` and `metrics` then read this monitor
    std::mutex backend_mu;    // backends are not thread-safe; scrapes come from a thread pool

    HardenedHttpServer svr;
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
