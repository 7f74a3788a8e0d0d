// zdd: zero-downtime blue/green deploys behind nginx, drained by the kernel's count.
// Subcommands deploy, status, rollback, drain, doctor, init, install-units. Invoked as
// `vibe-zero-downtime` (an installed symlink) it offers the original script's deploy PATH, status
// and rollback, with the seed's defaults.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/logging.hpp"
#include "common/verbosity_option.hpp"
#include "common/version.hpp"
#include "core/config.hpp"
#include "flow/deploy.hpp"
#include "flow/doctor.hpp"
#include "flow/init.hpp"
#include "flow/drain_command.hpp"
#include "core/exit_codes.hpp"
#include "runner/instance_runner.hpp"
#include "flow/interrupts.hpp"
#include "flow/rollback.hpp"
#include "flow/status.hpp"

namespace {

using namespace zdd;

// finalize() plus the runner's checks of --run-as, --workdir and --host, whose values end up in
// unit files, nginx's upstream and execve (runner/instance_runner.hpp).
void finalize_checked(CLI::App& app, Config& cfg) {
    finalize(app, cfg);
    if (auto e = launch_options_error(cfg.run_as, cfg.workdir, cfg.host)) throw ConfigError(*e);
}

int run(int argc, char** argv) {
    const std::string prog = std::filesystem::path(argc > 0 ? argv[0] : "zdd").filename();
    const bool seed_alias = prog == "vibe-zero-downtime";
    CLI::App app{seed_alias ? "vibe-zero-downtime: zero-downtime blue/green deploys (zdd)"
                            : "zdd: zero-downtime blue/green deploys behind nginx, drained by "
                              "the kernel's connection count",
                 prog};
    app.footer(exit_code_help() +
               "Precedence: flag > environment (DRAIN_TIMEOUT, VIBE_DEPLOYMENT_TOKEN, ZDD_<OPTION>)"
               " > config file (--config, default /etc/zdd/zdd.conf) > default.");
    app.require_subcommand(1);
    // Answered before the subcommand check: `zdd --version` needs none.
    app.set_version_flag("--version", zdd_build::version_line(prog));

    // Common options are accepted before the subcommand too (`zdd --config F deploy ...`):
    // registered on the app as well, handed to the subcommand after parsing.
    Config before_cfg;
    add_options(app, before_cfg, kCommonOptions);
    auto verbosity = drainmon::logging::Verbosity::normal;
    drainmon::logging::add_verbosity_flags(app, verbosity);

    Config cfg;  // one subcommand runs
    std::string units_dir = "/etc/systemd/system";
    std::string binary;
    std::vector<std::string> args;
    bool json = false;
    std::string drain_color;
    // What each subcommand reads (flows and Context); `status --help` lists no deploy option.
    constexpr unsigned kStatusGroups =
        kCommonOptions | kNginxOptions | kMonitorOptions | kRunnerOptions;
    auto subcommand = [&](const char* name, const char* what, unsigned groups) {
        auto* sub = app.add_subcommand(name, what);
        add_options(*sub, cfg, groups);
        return sub;
    };

    auto* deploy =
        subcommand("deploy", "Deploy BINARY as the other color [-- ARGS...]", kAllOptions);
    deploy->add_option("binary", binary, "The new release's executable")->required();
    deploy->add_option("args", args, "Arguments for the instance (after --)");
    deploy->footer(exit_code_help());

    auto* status =
        subcommand("status", "Colors, ports, pids, the deploy phase, drain figures", kStatusGroups);
    status->add_flag("--json", json, "Machine-readable output");

    auto* rollback = subcommand("rollback", "Traffic back to the previous color", kAllOptions);
    rollback->footer(exit_code_help());

    CLI::App* drain = nullptr;
    CLI::App* doctor = nullptr;
    InitOptions init_opts;
    CLI::App* init = nullptr;
    CLI::App* units = nullptr;
    if (!seed_alias) {
        drain = subcommand("drain", "Finish an interrupted drain and stop the color",
                           kStatusGroups | kDrainOptions | kMetricsOptions);
        drain->add_option("--color", drain_color, "Color to drain (default: the draining one)")
            ->check(CLI::IsMember({"blue", "green"}));
        drain->footer(exit_code_help());
        doctor = subcommand("doctor", "Check the nginx setup and the host for deploys",
                            kStatusGroups | kDrainOptions);
        init = subcommand("init", "Set up nginx, the token and the config for deploys",
                          kCommonOptions | kNginxOptions);
        add_init_options(*init, init_opts);
        init->footer(exit_code_help());
        units = subcommand(
            "install-units",
            "Write <service>-blue.service and <service>-green.service for --runner systemd",
            kCommonOptions | kRunnerOptions | kLaunchOptions);
        units->add_option("--dir", units_dir, "Where to write the units")->capture_default_str();
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);
        // One line: what is wrong and where to look.
        spdlog::error("{} (see '{} --help')", e.what(), prog);
        return kExitUsage;
    }

    drainmon::logging::setup(verbosity);
    install_interrupt_handlers();
    CLI::App* sub = app.get_subcommands().front();
    try {
        take_parent_options(app, *sub);
        if (sub == deploy) {
            finalize_checked(*deploy, cfg);
            return exit_code(run_deploy(cfg, binary, args, std::cerr));
        }
        if (sub == status) {
            finalize_checked(*status, cfg);
            return exit_code(run_status(cfg, json, std::cout));
        }
        if (sub == rollback) {
            finalize_checked(*rollback, cfg);
            return exit_code(run_rollback(cfg, std::cerr));
        }
        if (sub == drain) {
            finalize_checked(*drain, cfg);
            return exit_code(run_drain(cfg, parse_color(drain_color), std::cerr));
        }
        if (sub == units) {
            finalize_checked(*units, cfg);
            UnitSpec spec;
            spec.service = cfg.service;
            spec.state_dir = cfg.state_dir;
            spec.ports = cfg.ports;
            spec.env_file = cfg.env_file;
            spec.workdir = cfg.workdir;
            spec.run_as = cfg.run_as;
            spec.nofile = cfg.nofile;
            std::error_code ec;
            std::filesystem::create_directories(units_dir, ec);
            if (ec)
                throw Failure(Outcome::usage,
                              "cannot create --dir " + units_dir + ": " + ec.message());
            try {
                for (const auto& path : write_units(spec, units_dir))
                    std::cout << path.string() << "\n";
            } catch (const RunnerError& e) {
                throw Failure(Outcome::state, std::string("cannot write units: ") + e.what());
            }
            return kExitOk;
        }
        if (sub == init) {
            finalize_init(*init, cfg, init_opts);
            return exit_code(run_init(cfg, init_opts, std::cout));
        }
        if (sub == doctor) {
            finalize_checked(*doctor, cfg);
            return run_doctor(cfg, std::cout);
        }
    } catch (const ConfigError& e) {
        spdlog::error("{}", e.what());
        return kExitUsage;
    } catch (const Failure& e) {
        spdlog::error("{}", e.what());
        return exit_code(e.outcome);
    }
    return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    drainmon::logging::setup(drainmon::logging::Verbosity::normal);  // -v/-q once parsed
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        spdlog::error("internal: {}", e.what());
        return zdd::kExitInternal;
    }
}
