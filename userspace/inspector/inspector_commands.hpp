// drain-inspector's subcommands, each a function of its parsed options returning the exit code.
// drain_inspector_main.cpp owns the flags (CLI11); these own the behaviour.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "monitor/backend.hpp"

namespace drainmon::inspector {

constexpr int kExitOk = 0;
constexpr int kExitTimeout = 1;       // wait: the port did not drain in time
constexpr int kExitUsage = 2;         // usage, setup or configuration error
constexpr int kExitAddressInUse = 3;  // serve: the listen address is taken (another serve?)

// Bad input or configuration found after parsing (a 401, an unreadable token file, ...).
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct CommonOptions {
    std::string backend = "auto";
    std::vector<uint16_t> ports;  // empty: every port with a LISTEN socket (where allowed)
    double idle_after_s = 5.0;
    double push_gap_s = 1.0;
    double stuck_after_s = 30.0;
    uint32_t max_sockets = 0;  // 0: the backend's default
};

struct SnapshotOptions {
    CommonOptions common;
    bool json = false;
};

struct WaitOptions {
    CommonOptions common;      // ports: exactly one
    double timeout_s = 120.0;  // 0: forever
    bool strict = false;
    bool idle_ok = false;
    std::string health_url;
    std::string token_file;  // empty: $VIBE_DEPLOYMENT_TOKEN
    double poll_interval_s = 1.0;
    double app_timeout_s = 2.0;
    double progress_interval_s = 3.0;
    double min_drain_s = 0;                  // never declare drained sooner
    std::vector<std::string> ignore_remote;  // CIDRs whose connections are not counted
    bool handoff = false;                    // POST <health-url>/handoff first (gate/handoff.hpp)
};

struct WatchOptions {
    CommonOptions common;
    double interval_s = 1.0;
    int iterations = 0;  // 0: until Ctrl-C
};

struct MetricsOptions {
    CommonOptions common;
    std::string textfile_dir;  // empty: print to stdout
};

struct ServeOptions {
    CommonOptions common;
    std::string listen;  // ADDR:PORT, IPv6 as [addr]:port
};

int run_snapshot(const SnapshotOptions& o);
int run_wait(const WaitOptions& o);
int run_watch(const WatchOptions& o);
int run_metrics(const MetricsOptions& o);
int run_serve(const ServeOptions& o);

// Shared by the subcommands.
BackendOptions backend_options(const CommonOptions& o);
// Opens the chosen backend; an automatic fallback to sock_diag is said in one line on stderr.
// one_shot: a resident monitor (stay_resident) is read instead of loading programs.
std::unique_ptr<Backend> open_backend(const CommonOptions& o, bool one_shot = false);
// Pins a BPF monitor so one-shot commands of this namespace can read it (a warning when it
// cannot; nothing for sock_diag).
void stay_resident(Backend& backend);
// The ports to report: the given ones, or every port that has a LISTEN socket now.
std::vector<uint16_t> ports_to_report(const CommonOptions& o);

// A Backend::walk visitor that hands each connection to a table or JSON stream; LISTEN
// sockets are the ports' LISTEN column, never rows.
template <typename Sink>
auto rows_to(Sink& sink) {
    return [&sink](const SocketSample& s) {
        if (s.in.state != ZDD_TCP_LISTEN) sink.add(s);
    };
}

}  // namespace drainmon::inspector
