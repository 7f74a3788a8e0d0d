#include "flow/doctor.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "monitor/backend.hpp"
#include "runner/command.hpp"
#include "state/token.hpp"

#include "core/message_text.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

namespace {

using Level = DoctorFinding::Level;

constexpr std::size_t kWorkersPilingUp = 3;

void print(std::ostream& out, const DoctorFinding& f) {
    out << (f.level == Level::fix ? "[FIX] " : f.level == Level::warn ? "[WARN] " : "[NOTE] ");
    if (!f.where.empty()) out << f.where << ": ";
    out << f.text << "\n";
}

}  // namespace

std::vector<DoctorFinding> check_host(const Config& cfg) {
    std::vector<DoctorFinding> out;
    try {
        // Loading and dropping the real object is the only honest answer (verifier, BTF,
        // capabilities, memlock all matter).
        auto backend = drainmon::make_backend(drainmon::BackendKind::Bpf, {});
    } catch (const std::exception& e) {
        out.push_back({Level::fix, "",
                       std::string("BPF monitor unavailable (") + e.what() +
                           "): zdd falls back to sock_diag, which drains correctly but polls "
                           "for closes instead of waking at once; run zdd as root (CAP_BPF and "
                           "CAP_PERFMON) on a kernel with BTF"});
    }

    // Old workers pile up when reloads come faster than their long connections end: each
    // holds memory and an old config. One or two after a deploy are expected.
    try {
        auto workers = Nginx(nginx_options(cfg)).shutting_down_workers();
        if (workers.size() >= kWorkersPilingUp)
            out.push_back({Level::warn, "",
                           std::to_string(workers.size()) +
                               " nginx workers are still shutting down (the oldest for " +
                               human_duration(workers.front().age_s) +
                               "): each holds connections of an earlier reload; set "
                               "worker_shutdown_timeout to bound them (it cuts what is left), "
                               "or wait for those clients"});
    } catch (const std::exception&) {
        // nginx not running: the nginx checks say so.
    }

    struct stat st {};
    if (::stat(cfg.token_file.c_str(), &st) != 0) {
        const int err = errno;
        auto env = process_env(kTokenEnv);
        if (env && !env->empty())
            out.push_back({Level::note, "",
                           "token file " + cfg.token_file + " is not readable (" +
                               std::strerror(err) + "); the token comes from " + kTokenEnv});
        else
            out.push_back({Level::fix, "",
                           "token file " + cfg.token_file + " is not readable (" +
                               std::strerror(err) + ") and " + kTokenEnv +
                               " is not set: zdd cannot check the old instance's token; create "
                               "it with a `" +
                               kTokenEnv + "=...` line and chmod 600 it"});
    } else if (st.st_mode & (S_IRGRP | S_IROTH)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        out.push_back({Level::fix, "",
                       "token file " + cfg.token_file + " is readable by group or others (mode " +
                           mode + "): zdd refuses it; chmod 600 " + cfg.token_file});
    }
    return out;
}

int run_doctor(const Config& cfg, std::ostream& out) {
    std::vector<std::string> argv{cfg.nginx_bin};
    if (!cfg.nginx_prefix.empty()) argv.insert(argv.end(), {"-p", cfg.nginx_prefix});
    if (!cfg.nginx_conf.empty()) argv.insert(argv.end(), {"-c", cfg.nginx_conf});
    argv.push_back("-T");

    std::vector<DoctorFinding> findings;
    std::string nginx_error;
    std::size_t files = 0;
    try {
        auto r = run_command(argv, std::chrono::seconds(30), 64u << 20);
        if (!r.ok()) {
            std::string why = first_line(r.err);
            nginx_error = "`" + join_words(argv) + "` failed" +
                          (r.timed_out ? " (timed out)" : "") + (why.empty() ? "" : ": " + why);
        } else {
            NginxConf conf = parse_nginx_dump(r.out);
            files = conf.files.size();
            findings = check_nginx_conf(conf, cfg);
        }
    } catch (const CommandError& e) {
        nginx_error = std::string("cannot run ") + cfg.nginx_bin + ": " + e.what();
    } catch (const NginxConfError& e) {
        nginx_error = std::string("cannot read `") + join_words(argv) + "` output: " + e.what();
    }
    auto host = check_host(cfg);
    findings.insert(findings.end(), host.begin(), host.end());

    if (!nginx_error.empty()) out << "[ERROR] " << nginx_error << "\n";
    std::size_t fixes = 0, warnings = 0;
    for (const auto& f : findings) {
        print(out, f);
        if (f.level == Level::fix) ++fixes;
        if (f.level == Level::warn) ++warnings;
    }
    const std::string warned = warnings == 0 ? ""
                                             : " (" + std::to_string(warnings) + " warning" +
                                                   (warnings == 1 ? "" : "s") + " above)";
    if (!nginx_error.empty()) {
        out << "zdd doctor: could not check nginx's config; " << fixes << " other finding"
            << (fixes == 1 ? "" : "s") << "\n";
        return 2;
    }
    out << "zdd doctor: " << files << " nginx config file" << (files == 1 ? "" : "s")
        << " checked, upstream " << cfg.upstream_name << ", drain timeout "
        << seconds_text(cfg.drain_timeout) << ": ";
    if (fixes == 0) {
        out << "nothing found that would hurt a zero-downtime deploy" << warned << "\n";
        return 0;
    }
    out << fixes << " finding" << (fixes == 1 ? "" : "s") << " to fix" << warned << "\n";
    return 1;
}

}  // namespace zdd
