#include "nginx/nginx_control.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <thread>

#include "nginx/nginx_conf_scan.hpp"
#include "state/atomic_file.hpp"
#include "runner/command.hpp"
#include "runner/proc.hpp"

namespace zdd {

namespace {

using Kind = NginxError::Kind;

// nginx prints "nginx: [emerg] ..." then "nginx: configuration file ... test failed": the
// first [emerg]/[alert]/[crit] line says why.
std::string nginx_error_line(const std::string& out) {
    std::size_t pos = 0;
    while (pos < out.size()) {
        std::size_t nl = out.find('\n', pos);
        if (nl == std::string::npos) nl = out.size();
        std::string line = out.substr(pos, nl - pos);
        for (const char* tag : {"[emerg]", "[alert]", "[crit]", "[error]"})
            if (line.find(tag) != std::string::npos) return first_line(line);
        pos = nl + 1;
    }
    std::string l = first_line(out);
    return l.empty() ? "no output" : l;
}

// The top-level `pid FILE;` directive of the main conf, if any (read with nginx's lexer; a conf
// it cannot read has none here, and nginx's default applies).
std::optional<std::string> pid_directive(const std::string& conf_text) {
    try {
        for (const ConfDirective& d : parse_nginx_conf(conf_text, "nginx.conf"))
            if (d.name == "pid" && !d.block && d.args.size() == 1 && !d.args[0].empty())
                return d.args[0];
    } catch (const NginxConfError&) {
    }
    return std::nullopt;
}

}  // namespace

std::vector<std::string> Nginx::base_argv() const {
    std::vector<std::string> a{o_.bin};
    if (!o_.prefix.empty()) a.insert(a.end(), {"-p", o_.prefix});
    if (!o_.conf.empty()) a.insert(a.end(), {"-c", o_.conf});
    return a;
}

void Nginx::test() const {
    auto argv = base_argv();
    argv.push_back("-t");
    argv.push_back("-q");  // quiet: only errors are printed
    CommandResult r;
    try {
        r = run_command(argv, o_.command_timeout);
    } catch (const CommandError& e) {
        throw NginxError(Kind::test_failed, e.what());
    }
    if (r.timed_out) throw NginxError(Kind::test_failed, "nginx -t did not finish in time");
    if (r.status != 0) throw NginxError(Kind::test_failed, nginx_error_line(r.err + r.out));
}

std::filesystem::path Nginx::pid_file() const {
    if (!o_.pid_file.empty()) {
        std::filesystem::path p = o_.pid_file;
        if (p.is_relative() && !o_.prefix.empty()) p = std::filesystem::path(o_.prefix) / p;
        return p;
    }
    std::string conf = o_.conf, prefix = o_.prefix, compiled_pid;
    // nginx -V names the compiled-in defaults (conf path, prefix, pid path).
    try {
        auto r = run_command({o_.bin, "-V"}, o_.command_timeout);
        const std::string v = r.err + r.out;
        auto arg = [&](const std::string& key) -> std::string {
            auto i = v.find(key);
            if (i == std::string::npos) return "";
            i += key.size();
            auto e = v.find_first_of(" \n", i);
            return v.substr(i, e == std::string::npos ? std::string::npos : e - i);
        };
        if (conf.empty()) conf = arg("--conf-path=");
        if (prefix.empty()) prefix = arg("--prefix=");
        compiled_pid = arg("--pid-path=");
    } catch (const CommandError&) {
    }
    std::optional<std::string> directive;
    if (!conf.empty()) {
        std::filesystem::path cp = conf;
        if (cp.is_relative() && !prefix.empty()) cp = std::filesystem::path(prefix) / cp;
        try {
            if (auto text = read_file_if_exists(cp)) directive = pid_directive(*text);
        } catch (const FileError&) {
        }
    }
    std::filesystem::path p =
        directive ? *directive : (compiled_pid.empty() ? "/run/nginx.pid" : compiled_pid);
    if (p.is_relative() && !prefix.empty()) p = std::filesystem::path(prefix) / p;
    return p;
}

pid_t Nginx::master_pid() const {
    const auto path = pid_file();
    std::optional<std::string> text;
    try {
        text = read_file_if_exists(path, 64);
    } catch (const FileError& e) {
        throw NginxError(Kind::not_running, e.what());
    }
    if (!text)
        throw NginxError(Kind::not_running, "nginx is not running (no " + path.string() + ")");
    std::string t = first_line(*text);
    pid_t pid = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), pid);
    if (ec != std::errc() || p != t.data() + t.size() || pid <= 0)
        throw NginxError(Kind::not_running, path.string() + " does not hold a pid");
    auto st = read_proc_stat(pid);
    if (!st || st->state == 'Z')
        throw NginxError(Kind::not_running, "nginx master pid " + std::to_string(pid) + " (from " +
                                                path.string() + ") is not running");
    return pid;
}

std::vector<pid_t> Nginx::worker_pids() const {
    return child_pids(master_pid());
}

std::vector<ShuttingDownWorker> Nginx::shutting_down_workers() const {
    double uptime = 0;
    try {
        if (auto t = read_file_if_exists("/proc/uptime", 128))
            uptime = std::strtod(t->c_str(), nullptr);
    } catch (const FileError&) {
    }
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::vector<ShuttingDownWorker> out;
    for (pid_t pid : child_pids(master_pid())) {
        std::optional<std::string> title;
        try {
            title = read_file_if_exists("/proc/" + std::to_string(pid) + "/cmdline");
        } catch (const FileError&) {
            continue;  // exited meanwhile
        }
        auto st = read_proc_stat(pid);
        if (!title || !st || st->state == 'Z') continue;
        if (title->find("shutting down") == std::string::npos) continue;
        const double started = ticks > 0 ? static_cast<double>(st->start_time) / ticks : 0;
        out.push_back({pid, std::max(0.0, uptime - started)});
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.age_s > b.age_s; });
    return out;
}

namespace {

// An old worker accepts new connections with the old config until it handles the master's
// QUIT: it then retitles itself "... is shutting down" and closes its listening sockets. Wait
// for that (bounded), so that once reload() returns no new connection meets the old config.
void wait_old_workers_quit(const std::vector<pid_t>& old,
                           std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        bool all_quit = true;
        for (pid_t pid : old) {
            // A worker may exit while we read its cmdline (read() fails with ESRCH): that is
            // as good as quit, so read with the fd-based reader and treat any error so.
            std::optional<std::string> title;
            try {
                title = read_file_if_exists("/proc/" + std::to_string(pid) + "/cmdline");
            } catch (const FileError&) {
                continue;
            }
            auto st = read_proc_stat(pid);
            if (!title || !st || st->state == 'Z') continue;  // exited
            if (title->find("shutting down") == std::string::npos) all_quit = false;
        }
        if (all_quit || std::chrono::steady_clock::now() >= deadline) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

// nginx's master takes signals only inside sigsuspend(): they are blocked everywhere else,
// a reconfiguration included. So a master asleep in sigsuspend() with no SIGHUP pending is
// between reloads. nullopt when the kernel does not tell (no /proc/PID/syscall, no rights).
std::optional<bool> master_between_reloads(pid_t master) {
    std::optional<std::string> syscall, status;
    try {
        syscall = read_file_if_exists("/proc/" + std::to_string(master) + "/syscall", 4096);
        status = read_file_if_exists("/proc/" + std::to_string(master) + "/status");
    } catch (const FileError&) {
        return std::nullopt;
    }
    if (!syscall || !status) return std::nullopt;
    // "NR arg..." while blocked in a syscall, "running" or "-1 ..." otherwise.
    long nr = -1;
    auto [p, ec] = std::from_chars(syscall->data(), syscall->data() + syscall->size(), nr);
    if (ec != std::errc() || nr != SYS_rt_sigsuspend) return false;
    for (const char* key : {"\nSigPnd:", "\nShdPnd:"}) {
        auto i = status->find(key);
        if (i == std::string::npos) return std::nullopt;
        i += std::char_traits<char>::length(key);
        while (i < status->size() && (*status)[i] == '\t') ++i;
        const auto e = status->find('\n', i);
        const std::string hex = status->substr(i, e == std::string::npos ? e : e - i);
        if (hex.empty()) return std::nullopt;
        // The lowest bit is signal 1, SIGHUP.
        if (std::strtoull(hex.c_str() + (hex.size() > 16 ? hex.size() - 16 : 0), nullptr, 16) &
            (1ULL << (SIGHUP - 1)))
            return false;
    }
    if (auto st = read_proc_stat(master); !st || st->state == 'T' || st->state == 't')
        return false;  // stopped: a pending reload would start the moment it resumes
    return true;
}

}  // namespace

void Nginx::reload() const {
    const pid_t master = master_pid();
    const auto deadline = std::chrono::steady_clock::now() + o_.reload_timeout;
    // Someone else's reload may be under way (the config read, the workers not started yet):
    // its workers would look like the ones our signal asked for, though they run a config read
    // before our change. Wait until the master is between reloads: from then on the workers
    // before the snapshot are everything earlier reloads started, and any reload after it, ours
    // or not, reads the files as they are now.
    for (;;) {
        auto idle = master_between_reloads(master);
        if (!idle || *idle) break;
        if (!read_proc_stat(master))
            throw NginxError(Kind::not_running,
                             "nginx master " + std::to_string(master) + " exited");
        if (std::chrono::steady_clock::now() >= deadline)
            throw NginxError(Kind::reload_not_taken,
                             "nginx is busy with another reload (or stopped): it did not get "
                             "back to waiting for signals within " +
                                 std::to_string(o_.reload_timeout.count()) + " ms");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const auto before = child_pids(master);
    auto argv = base_argv();
    argv.insert(argv.end(), {"-s", "reload"});
    CommandResult r;
    try {
        r = run_command(argv, o_.command_timeout);
    } catch (const CommandError& e) {
        throw NginxError(Kind::reload_failed, e.what());
    }
    if (r.timed_out)
        throw NginxError(Kind::reload_failed, "nginx -s reload did not finish in time");
    if (r.status != 0) throw NginxError(Kind::reload_failed, nginx_error_line(r.err + r.out));

    // Took = a child the master did not have before (old workers may linger, draining).
    for (;;) {
        auto st = read_proc_stat(master);
        if (!st || st->state == 'Z')
            throw NginxError(Kind::not_running, "nginx master " + std::to_string(master) +
                                                    " exited during the reload");
        for (pid_t c : child_pids(master))
            if (!std::binary_search(before.begin(), before.end(), c)) {
                wait_old_workers_quit(before, deadline);
                return;
            }
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw NginxError(Kind::reload_not_taken,
                     "nginx reload did not take: no new worker processes after " +
                         std::to_string(o_.reload_timeout.count()) +
                         " ms (the master kept its old config; see nginx's error log)");
}

void apply_upstream(const Nginx& nginx, UpstreamFile& file, const Upstream& upstream) {
    file.write(upstream);
    try {
        nginx.test();
        nginx.reload();
    } catch (const NginxError& e) {
        try {
            file.restore();
        } catch (const std::exception& r) {
            throw NginxError(e.kind, std::string(e.what()) + "; restoring " + file.path().string() +
                                         " failed too: " + r.what());
        }
        throw;
    }
}

}  // namespace zdd
