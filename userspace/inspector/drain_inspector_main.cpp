// drain-inspector: what the kernel knows about the TCP connections of a port, and the drain
// gate as a standalone command. Exit codes: 0 ok, 1 wait timed out, 2 usage/setup/config error,
// 3 serve's address in use.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "common/version.hpp"
#include "common/duration_option.hpp"
#include "gate/app_report.hpp"
#include "inspector/inspector_commands.hpp"

namespace {

using namespace drainmon::inspector;

constexpr const char* kProgram = "drain-inspector";

// One line, whatever the library put in the message.
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n') c = ' ';
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

void add_ports(CLI::App* cmd, std::vector<int>& ports, bool required) {
    auto* opt = cmd->add_option("-p,--port", ports,
                                required ? "Local port to drain (the app's listening port)"
                                         : "Local port to report (repeatable; default: every "
                                           "port with a LISTEN socket in this network namespace)")
                    ->check(CLI::Range(1, 65535));
    if (required) opt->required()->expected(1);
}

void add_common(CLI::App* cmd, CommonOptions& c) {
    cmd->add_option("--backend", c.backend,
                    "auto (BPF, or sock_diag when BPF cannot load), bpf or sock_diag")
        ->check(CLI::IsMember({"auto", "bpf", "sock_diag"}))
        ->capture_default_str();
    cmd->add_option("--idle-after", c.idle_after_s,
                    "Seconds without data before a connection may count as idle")
        ->check(drainmon::duration_check(drainmon::ZeroIs::allowed))
        ->capture_default_str();
    cmd->add_option("--push-gap", c.push_gap_s,
                    "Seconds between the last request and a later send that mark a server push")
        ->check(drainmon::duration_check(drainmon::ZeroIs::allowed))
        ->capture_default_str();
    cmd->add_option("--stuck-after", c.stuck_after_s,
                    "Seconds without progress before a connection counts as stuck")
        ->check(drainmon::duration_check(drainmon::ZeroIs::allowed))
        ->capture_default_str();
    cmd->add_option("--max-sockets", c.max_sockets,
                    "BPF: sockets tracked at once (beyond it the counts say incomplete)")
        ->check(CLI::Range(1u, 1u << 24));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "drain-inspector: what the kernel knows about the TCP connections of a local port -\n"
        "counts per state, and each connection's class (active, idle keepalive, stuck,\n"
        "closing) - and the drain gate that tells when an instance can stop.",
        kProgram};
    app.footer(
        "Durations are seconds with decimals, at most 2592000 (30 days); non-zero ones at least\n"
        "0.001.\n"
        "Exit codes: 0 ok (drained), 1 wait timed out, 2 usage, setup or configuration error,\n"
        "3 serve: the listen address is already in use.\n"
        "Run 'drain-inspector SUBCOMMAND --help' for a subcommand's options.");
    app.require_subcommand(1);
    app.set_version_flag("--version", zdd_build::version_line(kProgram));

    std::vector<int> snap_ports, wait_ports, watch_ports, metrics_ports, serve_ports;

    SnapshotOptions snap_o;
    auto* snap = app.add_subcommand(
        "snapshot",
        "Print the counts per port and every connection with its class and reason, once\n"
        "(a table, or one JSON object with --json for scripts).");
    add_ports(snap, snap_ports, false);
    add_common(snap, snap_o.common);
    snap->add_flag("--json", snap_o.json, "One JSON object instead of the table");

    WaitOptions wait_o;
    auto* wait = app.add_subcommand(
        "wait",
        "The drain gate: block until PORT carries no more work, then exit 0. Active\n"
        "connections always hold it; idle keepalives hold it unless the app reports (or\n"
        "--idle-ok); stuck ones are listed and hold it only with --strict. On timeout it\n"
        "prints what is left and exits 1. Usable as a preStop hook.");
    add_ports(wait, wait_ports, true);
    add_common(wait, wait_o.common);
    wait->add_option("-t,--timeout", wait_o.timeout_s,
                     "Seconds to wait at most (up to 2592000, 30 days); 0 waits forever")
        ->envname("DRAIN_TIMEOUT")
        ->check(drainmon::duration_check(drainmon::ZeroIs::forever))
        ->capture_default_str();
    wait->add_flag("--strict", wait_o.strict, "Stuck connections block too (until the timeout)");
    wait->add_flag("--idle-ok", wait_o.idle_ok, "Idle keepalive connections never block");
    auto* url = wait->add_option("--health-url", wait_o.health_url,
                                 "The app's /health/deployment URL (activeStreams, "
                                 "activeRequests), asked with the deployment token");
    wait->add_option("--token-file", wait_o.token_file,
                     "File with the token: a VIBE_DEPLOYMENT_TOKEN=... line or the bare token, "
                     "mode 0600 (default: $VIBE_DEPLOYMENT_TOKEN)")
        ->needs(url);
    wait->add_option("--poll-interval", wait_o.poll_interval_s, "Seconds between app polls")
        ->check(drainmon::duration_check(drainmon::ZeroIs::refused))
        ->capture_default_str();
    wait->add_option("--app-timeout", wait_o.app_timeout_s, "Seconds one app poll may take")
        ->check(drainmon::duration_check(drainmon::ZeroIs::refused))
        ->capture_default_str();
    wait->add_option("--progress-interval", wait_o.progress_interval_s,
                     "Seconds between progress lines on stderr")
        ->check(drainmon::duration_check(drainmon::ZeroIs::refused))
        ->capture_default_str();
    wait->add_option("--min-drain", wait_o.min_drain_s,
                     "Never declare drained sooner than this many seconds (routing changes "
                     "propagate after the hook starts)")
        ->check(drainmon::duration_check(drainmon::ZeroIs::allowed))
        ->capture_default_str();
    wait->add_flag("--handoff", wait_o.handoff,
                   "First ask the app (POST <health-url>/handoff, with the token) to end its "
                   "streams at their next message boundary so resuming clients reconnect "
                   "elsewhere; an app without it (404) is drained as usual")
        ->needs(url);
    wait->add_option("--ignore-remote", wait_o.ignore_remote,
                     "CIDR (repeatable): connections from these peers (monitoring agents) "
                     "neither hold the drain nor count; listed as ignored");

    WatchOptions watch_o;
    auto* watch = app.add_subcommand(
        "watch",
        "A live view like top: counts per class and the connections, refreshed until "
        "Ctrl-C.");
    add_ports(watch, watch_ports, false);
    add_common(watch, watch_o.common);
    watch->add_option("-i,--interval", watch_o.interval_s, "Seconds between refreshes")
        ->check(drainmon::duration_check(drainmon::ZeroIs::refused))
        ->capture_default_str();
    watch
        ->add_option("-n,--iterations", watch_o.iterations,
                     "Refresh this many times, then exit (0: until Ctrl-C)")
        ->check(CLI::NonNegativeNumber);

    MetricsOptions metrics_o;
    auto* metrics = app.add_subcommand(
        "metrics",
        "Prometheus text exposition of the counts and classes, on stdout or written\n"
        "atomically as DIR/drain_inspector.prom for node_exporter's textfile collector.");
    add_ports(metrics, metrics_ports, false);
    add_common(metrics, metrics_o.common);
    metrics
        ->add_option("--textfile-dir", metrics_o.textfile_dir,
                     "Directory to write drain_inspector.prom into (temp file + rename)")
        ->check(CLI::ExistingDirectory);

    ServeOptions serve_o;
    auto* serve = app.add_subcommand(
        "serve",
        "Serve the same metrics on HTTP GET /metrics (a fresh snapshot per scrape) "
        "until SIGINT/SIGTERM.");
    serve->add_option("-l,--listen", serve_o.listen, "ADDR:PORT to listen on, e.g. 127.0.0.1:9187")
        ->required();
    add_ports(serve, serve_ports, false);
    add_common(serve, serve_o.common);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string sub;
        for (const auto* s : app.get_subcommands()) sub = s->get_name() + " ";
        std::cerr << kProgram << ": " << one_line(e.what()) << " (run '" << kProgram << " " << sub
                  << "--help' for usage)" << std::endl;
        return kExitUsage;
    }

    auto ports_of = [](const std::vector<int>& v) {
        return std::vector<uint16_t>(v.begin(), v.end());
    };
    try {
        if (snap->parsed()) {
            snap_o.common.ports = ports_of(snap_ports);
            return run_snapshot(snap_o);
        }
        if (wait->parsed()) {
            wait_o.common.ports = ports_of(wait_ports);
            return run_wait(wait_o);
        }
        if (watch->parsed()) {
            watch_o.common.ports = ports_of(watch_ports);
            return run_watch(watch_o);
        }
        if (metrics->parsed()) {
            metrics_o.common.ports = ports_of(metrics_ports);
            return run_metrics(metrics_o);
        }
        if (serve->parsed()) {
            serve_o.common.ports = ports_of(serve_ports);
            return run_serve(serve_o);
        }
    } catch (const std::exception& e) {
        // Backend setup, token file, 401, bad --listen, ...: all configuration or setup.
        std::cerr << kProgram << ": " << one_line(e.what()) << std::endl;
        return kExitUsage;
    }
    return kExitUsage;
}
