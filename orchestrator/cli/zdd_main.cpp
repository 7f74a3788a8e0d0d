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
               " > config file (--config) > default.");
    app.require_subcommand(1);
    // Answered before the subcommand check: `zdd --version` needs none.
    app.set_version_flag("--version", zdd_build::version_line(prog));

    Config deploy_cfg, status_cfg, rollback_cfg, drain_cfg, doctor_cfg, units_cfg;
    std::string units_dir = "/etc/systemd/system";
    std::string binary;
    std::vector<std::string> args;
    bool json = false;
    std::string drain_color;

    auto* deploy = app.add_subcommand("deploy", "Deploy BINARY as the other color [-- ARGS...]");
    add_options(*deploy, deploy_cfg);
    deploy->add_option("binary", binary, "The new release's executable")->required();
    deploy->add_option("args", args, "Arguments for the instance (after --)");
    deploy->footer(exit_code_help());

    auto* status =
        app.add_subcommand("status", "Colors, ports, pids, the deploy phase, drain figures");
    add_options(*status, status_cfg);
    status->add_flag("--json", json, "Machine-readable output");

    auto* rollback = app.add_subcommand("rollback", "Traffic back to the previous color");
    add_options(*rollback, rollback_cfg);
    rollback->footer(exit_code_help());

    CLI::App* drain = nullptr;
    CLI::App* doctor = nullptr;
    if (!seed_alias) {
        drain = app.add_subcommand("drain", "Finish an interrupted drain and stop the color");
        add_options(*drain, drain_cfg);
        drain->add_option("--color", drain_color, "Color to drain (default: the draining one)")
            ->check(CLI::IsMember({"blue", "green"}));
        drain->footer(exit_code_help());
        doctor = app.add_subcommand("doctor", "Check the nginx setup and the host for deploys");
        add_options(*doctor, doctor_cfg);
    }
    Config init_cfg;
    InitOptions init_opts;
    CLI::App* init = nullptr;
    if (!seed_alias) {
        init = app.add_subcommand("init", "Set up nginx, the token and the config for deploys");
        add_options(*init, init_cfg);
        add_init_options(*init, init_opts);
        init->footer(exit_code_help());
    }
    CLI::App* units = nullptr;
    if (!seed_alias) {
        units = app.add_subcommand(
            "install-units",
            "Write <service>-blue.service and <service>-green.service for --runner systemd");
        add_options(*units, units_cfg);
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
        std::cerr << "[ERROR] " << e.what() << " (see '" << prog << " --help')" << std::endl;
        return kExitUsage;
    }

    install_interrupt_handlers();
    CLI::App* sub = app.get_subcommands().front();
    try {
        if (sub == deploy) {
            finalize_checked(*deploy, deploy_cfg);
            return exit_code(run_deploy(deploy_cfg, binary, args, std::cerr));
        }
        if (sub == status) {
            finalize_checked(*status, status_cfg);
            return exit_code(run_status(status_cfg, json, std::cout));
        }
        if (sub == rollback) {
            finalize_checked(*rollback, rollback_cfg);
            return exit_code(run_rollback(rollback_cfg, std::cerr));
        }
        if (sub == drain) {
            finalize_checked(*drain, drain_cfg);
            return exit_code(run_drain(drain_cfg, parse_color(drain_color), std::cerr));
        }
        if (sub == units) {
            finalize_checked(*units, units_cfg);
            UnitSpec spec;
            spec.service = units_cfg.service;
            spec.state_dir = units_cfg.state_dir;
            spec.ports = units_cfg.ports;
            spec.env_file = units_cfg.env_file;
            spec.workdir = units_cfg.workdir;
            spec.run_as = units_cfg.run_as;
            spec.nofile = units_cfg.nofile;
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
            finalize_init(*init, init_cfg, init_opts);
            return exit_code(run_init(init_cfg, init_opts, std::cout));
        }
        if (sub == doctor) {
            finalize_checked(*doctor, doctor_cfg);
            return run_doctor(doctor_cfg, std::cout);
        }
    } catch (const ConfigError& e) {
        std::cerr << "[ERROR] " << e.what() << std::endl;
        return kExitUsage;
    } catch (const Failure& e) {
        std::cerr << "[ERROR] " << e.what() << std::endl;
        return exit_code(e.outcome);
    }
    return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "[ERROR] internal: " << e.what() << std::endl;
        return zdd::kExitInternal;
    }
}
