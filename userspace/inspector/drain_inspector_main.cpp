// drain-inspector: what the kernel knows about the TCP connections of a port, and the drain
// gate as a standalone command. Exit codes: 0 ok, 1 wait timed out, 2 usage/setup/config error,
// 3 serve's address in use.
#include <CLI/CLI.hpp>

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "common/logging.hpp"
#include "common/verbosity_option.hpp"
#include "common/parent_options.hpp"
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

constexpr const char* kMonitorGroup = "Monitor options";

// The monitor's options: on the app too, so `drain-inspector --backend sock_diag snapshot`
// works as `drain-inspector snapshot --backend sock_diag` does.
void add_common(CLI::App* cmd, CommonOptions& c) {
    const std::string saved = cmd->option_defaults()->get_group();
    cmd->option_defaults()->group(kMonitorGroup);
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
    cmd->option_defaults()->group(saved);
}

// One subcommand: its ports and monitor options, and what runs it.
struct Command {
    CLI::App* app = nullptr;
    std::vector<int> ports;
    CommonOptions* common = nullptr;
    std::function<int()> run;
};

}  // namespace

int main(int argc, char** argv) {
    drainmon::logging::setup(drainmon::logging::Verbosity::normal);  // -v/-q once parsed
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

    auto verbosity = drainmon::logging::Verbosity::normal;
    drainmon::logging::add_verbosity_flags(app, verbosity);
    CommonOptions before;
    add_common(&app, before);

    std::vector<Command> commands;
    // Registers the subcommand with its ports and monitor options; `run` is set by the caller.
    auto command = [&](const char* name, const char* what, CommonOptions& common,
                       bool port_required) -> Command& {
        Command& c = commands.emplace_back();
        c.app = app.add_subcommand(name, what);
        c.common = &common;
        add_ports(c.app, c.ports, port_required);
        add_common(c.app, common);
        return c;
    };
    commands.reserve(5);

    SnapshotOptions snap_o;
    auto* snap = command("snapshot",
                         "Print the counts per port and every connection with its class and "
                         "reason, once\n(a table, or one JSON object with --json for scripts).",
                         snap_o.common, false)
                     .app;
    commands.back().run = [&] { return run_snapshot(snap_o); };
    snap->add_flag("--json", snap_o.json, "One JSON object instead of the table");

    WaitOptions wait_o;
    auto* wait =
        command("wait",
                "The drain gate: block until PORT carries no more work, then exit 0. Active\n"
                "connections always hold it; idle keepalives hold it unless the app reports (or\n"
                "--idle-ok); stuck ones are listed and hold it only with --strict. On timeout it\n"
                "prints what is left and exits 1. Usable as a preStop hook.",
                wait_o.common, true)
            .app;
    commands.back().run = [&] { return run_wait(wait_o); };
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
    auto* watch = command("watch",
                          "A live view like top: counts per class and the connections, "
                          "refreshed until Ctrl-C.",
                          watch_o.common, false)
                      .app;
    commands.back().run = [&] { return run_watch(watch_o); };
    watch->add_option("-i,--interval", watch_o.interval_s, "Seconds between refreshes")
        ->check(drainmon::duration_check(drainmon::ZeroIs::refused))
        ->capture_default_str();
    watch
        ->add_option("-n,--iterations", watch_o.iterations,
                     "Refresh this many times, then exit (0: until Ctrl-C)")
        ->check(CLI::NonNegativeNumber);

    MetricsOptions metrics_o;
    auto* metrics =
        command("metrics",
                "Prometheus text exposition of the counts and classes, on stdout or written\n"
                "atomically as DIR/drain_inspector.prom for node_exporter's textfile collector.",
                metrics_o.common, false)
            .app;
    commands.back().run = [&] { return run_metrics(metrics_o); };
    metrics
        ->add_option("--textfile-dir", metrics_o.textfile_dir,
                     "Directory to write drain_inspector.prom into (temp file + rename)")
        ->check(CLI::ExistingDirectory);

    ServeOptions serve_o;
    auto* serve = command("serve",
                          "Serve the same metrics on HTTP GET /metrics (a fresh snapshot per "
                          "scrape) until SIGINT/SIGTERM.",
                          serve_o.common, false)
                      .app;
    commands.back().run = [&] { return run_serve(serve_o); };
    serve->add_option("-l,--listen", serve_o.listen, "ADDR:PORT to listen on, e.g. 127.0.0.1:9187")
        ->required();

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

    drainmon::logging::setup(verbosity);
    try {
        for (Command& c : commands) {
            if (!c.app->parsed()) continue;
            drainmon::take_parent_options(
                app, *c.app, [](const CLI::Option& o) { return o.get_group() == kMonitorGroup; });
            c.common->ports.assign(c.ports.begin(), c.ports.end());
            return c.run();
        }
    } catch (const std::exception& e) {
        // Backend setup, token file, 401, bad --listen, ...: all configuration or setup.
        std::cerr << kProgram << ": " << one_line(e.what()) << std::endl;
        return kExitUsage;
    }
    return kExitUsage;
}
