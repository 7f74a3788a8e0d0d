// zdd-demo-app: the reference service for zdd deploys. It implements the health contract
// (docs/health-contract.md), holds SSE streams and ordinary requests, counts them exactly, and
// reacts to SIGTERM (drain) and SIGINT (cancel) the way the deploy flow expects.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <mutex>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app_state.hpp"
#include "common/version.hpp"
#include "demo_server.hpp"
#include "shutdown_signals.hpp"

namespace {

// Exit codes: one per kind of failure, so scripts can tell them apart.
constexpr int kExitOk = 0;
constexpr int kExitInternal = 1;
constexpr int kExitUsage = 2;
constexpr int kExitListen = 3;
constexpr int kExitListenerFailed = 4;
constexpr int kExitCancelTimeout = 5;

// After SIGINT every stream ends at once; a connection still open after this is cut anyway.
constexpr auto kCancelGrace = std::chrono::seconds(3);
// fds beyond the connections: listener, signalfd, eventfds, stdio, a margin.
constexpr rlim_t kSpareFds = 32;

// Raises the soft open-file limit to the hard one; returns the resulting soft limit.
rlim_t raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
        ::getrlimit(RLIMIT_NOFILE, &lim);
    }
    return lim.rlim_cur;
}

int run(int argc, char** argv) {
    CLI::App cli{
        "zdd-demo-app: reference service for zdd blue/green deploys.\n"
        "Endpoints: / /health /health/deployment /stream/test?duration=N[&interval_ms=M] "
        "/work?ms=N, and POST /health/deployment/handoff.\nThe deployment token comes from "
        "VIBE_DEPLOYMENT_TOKEN only (never a flag)."};
    zdd_demo::ServerOptions options;
    std::string version = "dev";
    std::string color = "none";
    size_t max_connections = 0;
    double keep_alive_s = 5;
    long handoff_retry_ms = 200;
    cli.add_option("--port", options.port, "TCP port to listen on (0: any free port)")
        ->envname("PORT")
        ->check(CLI::Range(0, 65535))
        ->capture_default_str();
    cli.add_option("--host", options.host, "address to listen on")->capture_default_str();
    cli.add_option("--version-string", version, "version reported by /health")
        ->envname("APP_VERSION")
        ->capture_default_str();
    cli.add_option("--color", color, "deployment color reported by /health/deployment")
        ->envname("DEPLOYMENT_COLOR")
        ->capture_default_str();
    cli.add_option("--max-connections,--threads", max_connections,
                   "connections served at once, one thread each; beyond it only /health and "
                   "/health/deployment answer, anything else gets 503 (default: 4096, or what "
                   "the open-file limit allows)")
        ->check(CLI::Range(size_t{1}, size_t{1000000}));
    // Tests of a canary that turns bad (zdd --shift-hold) need a /health that starts failing.
    cli.add_option("--fail-health-after", options.fail_health_after_s,
                   "fault for tests: /health answers 503 once up this many seconds (0 = never)")
        ->envname("FAIL_HEALTH_AFTER_S")
        ->check(CLI::Range(0L, 86400L));
    // Tests of idle keep-alive clients need them to outlive a drain.
    cli.add_option("--keep-alive-timeout", keep_alive_s,
                   "seconds an idle keep-alive connection is kept open")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    // Small, so a handed-over client is back (on the new color) almost at once.
    cli.add_option("--handoff-retry-ms", handoff_retry_ms,
                   "reconnect delay (SSE retry:) a stream asks of its client when handed over")
        ->check(CLI::Range(0L, 3600L * 1000))
        ->capture_default_str();
    // The build's version; --version-string is what the app reports on /health.
    cli.set_version_flag("--version", zdd_build::version_line("zdd-demo-app"));
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? kExitOk : kExitUsage;
    }

    auto logger = spdlog::stderr_logger_mt("zdd-demo-app");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e zdd-demo-app[%P] %l: %v");
    spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=warn quiets the per-stream lines

    const rlim_t fd_limit = raise_fd_limit();
    // The overflow lane's connections need fds of their own beyond the served ones.
    const rlim_t spare = kSpareFds + options.overflow_held;
    const size_t fd_room = fd_limit > spare ? fd_limit - spare : 1;
    if (max_connections == 0) {
        max_connections = std::min<size_t>(4096, fd_room);
    } else if (max_connections > fd_room) {
        spdlog::error("--max-connections {} exceeds the open-file limit {} (minus {} spare)",
                      max_connections, fd_limit, spare);
        return kExitUsage;
    }
    options.max_connections = max_connections;
    options.keep_alive_timeout = std::chrono::milliseconds(static_cast<long>(keep_alive_s * 1000));
    options.handoff_retry = std::chrono::milliseconds(handoff_retry_ms);
    if (const char* token = std::getenv("VIBE_DEPLOYMENT_TOKEN")) options.token = token;

    zdd_demo::AppState state({version, color, options.port});
    zdd_demo::DemoServer server(state, options);

    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;
    zdd_demo::ShutdownSignals signals([&](int signo) {
        if (signo == SIGTERM) {
            if (!state.begin_drain()) {
                spdlog::info("SIGTERM again: already {}", zdd_demo::phase_name(state.phase()));
                return;
            }
            spdlog::info(
                "SIGTERM: draining: listener closed, {} streams and {} requests run to their end",
                state.active_streams(), state.active_requests());
            server.close_listener();
            return;
        }
        const int streams = state.active_streams();
        const int requests = state.active_requests();
        if (!state.cancel()) return;
        spdlog::info("SIGINT: cancelling {} streams and {} requests", streams, requests);
        server.close_listener();
        std::unique_lock lock(done_mu);
        if (!done_cv.wait_for(lock, kCancelGrace, [&] { return done; })) {
            spdlog::error("SIGINT: connections still open after {} s; exiting anyway",
                          kCancelGrace.count());
            spdlog::default_logger()->flush();
            std::_Exit(kExitCancelTimeout);
        }
    });

    const int port = server.bind();
    if (port <= 0) {
        spdlog::error("cannot listen on {}:{}: {}", options.host, options.port,
                      std::strerror(errno));
        return kExitListen;
    }
    state.set_port(port);
    spdlog::info("start: listening on {}:{} version={} color={} max-connections={} token={}",
                 options.host, port, version, color, max_connections,
                 options.token.empty() ? "unset" : "set");

    const bool closed_by_us = server.serve();
    {
        std::lock_guard lock(done_mu);
        done = true;
    }
    done_cv.notify_all();
    if (!closed_by_us) {
        spdlog::error("stop: the listening socket failed");
        return kExitListenerFailed;
    }
    spdlog::info("stop: {} complete, {} connections refused while at capacity; exit 0",
                 state.cancelled() ? "cancel" : "drain", server.refused_connections());
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "zdd-demo-app: %s\n", e.what());
        return kExitInternal;
    }
}
