#include "runner/instance_runner.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "state/atomic_file.hpp"
#include "runner/command.hpp"
#include "runner/proc.hpp"
#include "common/unique_fd.hpp"

namespace zdd {

namespace fs = std::filesystem;
using drainmon::UniqueFd;

namespace {

// Exit statuses of our children reaped by alive()/wait_exit(), so the status is not lost.
std::mutex g_reaped_mu;
std::map<pid_t, int> g_reaped;

void reap_if_child(pid_t pid) {
    int st = 0;
    pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid) {
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
        std::lock_guard lk(g_reaped_mu);
        g_reaped[pid] = code;
    }
}

std::optional<int> take_reaped(pid_t pid) {
    std::lock_guard lk(g_reaped_mu);
    auto it = g_reaped.find(pid);
    if (it == g_reaped.end()) return std::nullopt;
    int v = it->second;
    g_reaped.erase(it);
    return v;
}

// A pidfd for p, only if the pid still names the same process.
UniqueFd open_same_process(const ProcessRef& p) {
    if (p.pid <= 0) return UniqueFd();
    UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, p.pid, 0)));
    if (!fd) return fd;
    // The pidfd pins the process it was opened on; if that one has our start time, it is ours.
    auto st = read_proc_stat(p.pid);
    if (!st || st->start_time != p.start_time || st->state == 'Z') return UniqueFd();
    return fd;
}

// What the child reports through the CLOEXEC pipe when a step before exec fails.
struct ChildFailure {
    int step;
    int err;
};
constexpr const char* kSteps[] = {"setsid",    "setrlimit", "dup2",   "chdir",
                                  "setgroups", "setgid",    "setuid", "execve"};

[[noreturn]] void child_fail(int fd, int step) {
    ChildFailure f{step, errno};
    ssize_t ignored = ::write(fd, &f, sizeof f);
    (void)ignored;
    ::_exit(127);
}

bool has_control(const std::string& s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

// One ExecStart word (systemd.syntax(7)): double-quoted with C escapes, `%` doubled (specifier)
// and `$` doubled (environment expansion), so the word reaches the program verbatim.
std::string unit_quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '%') {
            out += "%%";
        } else if (c == '$') {
            out += "$$";
        } else if (c < 0x20 || c == 0x7f) {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

// A setting's value written as is (WorkingDirectory=, User=, EnvironmentFile=): `%` doubled;
// a control character would end the line (a newline injects a setting) and a trailing
// backslash would continue it, so both are refused.
std::string unit_value(const std::string& what, const std::string& s) {
    if (has_control(s)) throw RunnerError(what + " holds a control character");
    if (!s.empty() && s.back() == '\\') throw RunnerError(what + " ends with a backslash");
    std::string out;
    for (char c : s) {
        if (c == '%') out += '%';
        out += c;
    }
    return out;
}

bool valid_user_name(const std::string& s) {
    // The portable subset systemd and useradd agree on: [A-Za-z_][A-Za-z0-9_.-]*, at most 32.
    if (s.empty() || s.size() > 32) return false;
    if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    for (unsigned char c : s)
        if (!(std::isalnum(c) || c == '_' || c == '.' || c == '-')) return false;
    return true;
}

bool valid_host(const std::string& h) {
    unsigned char buf[sizeof(in6_addr)];
    if (::inet_pton(AF_INET, h.c_str(), buf) == 1 || ::inet_pton(AF_INET6, h.c_str(), buf) == 1)
        return true;
    // A DNS name (RFC 1123): dot-separated labels of letters, digits and inner hyphens.
    if (h.empty() || h.size() > 253) return false;
    size_t start = 0;
    while (start <= h.size()) {
        size_t end = h.find('.', start);
        if (end == std::string::npos) end = h.size();
        const std::string label = h.substr(start, end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (unsigned char c : label)
            if (!(std::isalnum(c) || c == '-')) return false;
        start = end + 1;
    }
    return true;
}

constexpr const char* kInstancePath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace

std::optional<ProcessRef> process_ref(pid_t pid) {
    auto st = read_proc_stat(pid);
    if (!st || st->state == 'Z') return std::nullopt;
    return ProcessRef{pid, st->start_time};
}

bool alive(const ProcessRef& p) {
    if (p.pid <= 0) return false;
    auto st = read_proc_stat(p.pid);
    if (!st || st->start_time != p.start_time) return false;
    if (st->state == 'Z') {
        reap_if_child(p.pid);
        return false;
    }
    return true;
}

bool signal_process(const ProcessRef& p, int sig) {
    UniqueFd fd = open_same_process(p);
    if (!fd) return false;
    return ::syscall(SYS_pidfd_send_signal, fd.get(), sig, nullptr, 0) == 0;
}

std::optional<int> wait_exit(const ProcessRef& p, std::chrono::milliseconds bound) {
    UniqueFd fd = open_same_process(p);
    if (fd) {
        // A pidfd becomes readable when the process exits (child or not).
        pollfd pf{fd.get(), POLLIN, 0};
        const auto deadline = std::chrono::steady_clock::now() + bound;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            int n = ::poll(&pf, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
            if (n > 0) break;
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) return std::nullopt;
            break;
        }
    }
    reap_if_child(p.pid);
    if (auto st = take_reaped(p.pid)) return st;
    return -1;
}

std::optional<std::string> zdd_env(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
}

EnvVars instance_environment(const LaunchSpec& s, const EnvGet& parent) {
    std::map<std::string, std::string> env;
    env["PATH"] = kInstancePath;
    auto lang = parent("LANG");
    env["LANG"] = lang && !lang->empty() && !has_control(*lang) ? *lang : "C.UTF-8";
    if (auto v = parent("APP_VERSION")) env["APP_VERSION"] = *v;
    for (const auto& [k, v] : s.extra_env) env[k] = v;
    env["PORT"] = std::to_string(s.port);
    env["DEPLOYMENT_COLOR"] = to_string(s.color);
    if (!s.token.empty())
        env[kTokenEnv] = s.token.reveal();
    else
        env.erase(kTokenEnv);  // never one from --env-file that zdd did not check
    return EnvVars(env.begin(), env.end());
}

std::optional<std::string> launch_options_error(const std::string& run_as,
                                                const std::string& workdir,
                                                const std::string& host) {
    // The values are not echoed: a control character in them would garble the message.
    if (!run_as.empty() && !valid_user_name(run_as))
        return "--run-as: not a user name (letters, digits, _ . -, starting with a letter or _, "
               "at most 32)";
    if (!workdir.empty()) {
        if (has_control(workdir)) return "--workdir: holds a control character";
        if (workdir.front() != '/') return "--workdir must be an absolute path";
        if (workdir.back() == '\\') return "--workdir must not end with a backslash";
    }
    if (!valid_host(host)) return "--host: not an IP address or a host name";
    return std::nullopt;
}

std::optional<std::string> exec_root_warning(const LaunchSpec& s) {
    if (s.run_as.empty()) {
        if (::geteuid() == 0)
            return "the instance will run as root: pass --run-as USER to give it less";
        return std::nullopt;
    }
    std::vector<char> buf(16384);
    passwd pw{}, *res = nullptr;
    if (::getpwnam_r(s.run_as.c_str(), &pw, buf.data(), buf.size(), &res) == 0 && res &&
        res->pw_uid == 0)
        return "--run-as " + s.run_as + " is root (uid 0)";
    return std::nullopt;
}

ProcessRef start_detached(const LaunchSpec& s) {
    // Everything that allocates or may take locks happens here, before fork.
    if (::access(s.binary.c_str(), X_OK) != 0)
        throw RunnerError("cannot run " + s.binary.string() + ": " + std::strerror(errno));
    if (s.log_file.empty()) throw RunnerError("no log file given");
    std::error_code ec;
    fs::create_directories(s.log_file.parent_path(), ec);
    if (ec)
        throw RunnerError("cannot create " + s.log_file.parent_path().string() + ": " +
                          ec.message());
    // Relative to the logs dir, itself opened without following a symlink: neither the dir
    // nor the log (nor its rotated copy) can redirect root's writes elsewhere.
    UniqueFd logs(
        ::open(s.log_file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!logs)
        throw RunnerError("cannot open " + s.log_file.parent_path().string() + ": " +
                          std::strerror(errno));
    const std::string name = s.log_file.filename().string();
    struct stat lst {};
    if (::fstatat(logs.get(), name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
        static_cast<uint64_t>(lst.st_size) > s.log_max_bytes)
        ::renameat(logs.get(), name.c_str(), logs.get(), (name + ".1").c_str());  // one kept
    UniqueFd log(::openat(logs.get(), name.c_str(),
                          O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640));
    if (!log)
        throw RunnerError("cannot open log " + s.log_file.string() + ": " + std::strerror(errno));
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull) throw RunnerError(std::string("cannot open /dev/null: ") + std::strerror(errno));

    bool switch_user = !s.run_as.empty();
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    std::string home;
    if (switch_user) {
        std::vector<char> buf(16384);
        passwd pw{}, *res = nullptr;
        if (::getpwnam_r(s.run_as.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || !res)
            throw RunnerError("--run-as " + s.run_as + ": no such user");
        uid = pw.pw_uid;
        gid = pw.pw_gid;
        home = pw.pw_dir ? pw.pw_dir : "/";
        int n = 64;
        groups.resize(n);
        if (::getgrouplist(s.run_as.c_str(), gid, groups.data(), &n) < 0) {
            groups.resize(n);
            ::getgrouplist(s.run_as.c_str(), gid, groups.data(), &n);
        }
        groups.resize(n);
        // The log is not chowned to the user: the instance writes through the fd opened here,
        // and a file in the state dir owned by another user fails the next run's check.
    }

    std::map<std::string, std::string> env;
    for (auto& [k, v] : instance_environment(s)) env[k] = v;
    if (switch_user) {
        env["USER"] = env["LOGNAME"] = s.run_as;
        env["HOME"] = home;
    } else {
        for (const char* k : {"HOME", "USER", "LOGNAME"})
            if (auto v = zdd_env(k)) env[k] = *v;
    }
    std::vector<std::string> env_strs;
    for (const auto& [k, v] : env) env_strs.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_strs) envp.push_back(e.data());
    envp.push_back(nullptr);

    std::vector<std::string> argv_strs{s.binary.string()};
    argv_strs.insert(argv_strs.end(), s.args.begin(), s.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strs) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string workdir =
        s.workdir.empty() ? fs::absolute(s.binary).parent_path().string() : s.workdir.string();

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw RunnerError(std::string("pipe: ") + std::strerror(errno));
    UniqueFd err_r(p[0]), err_w(p[1]);
    if (err_w.get() < 3) {  // keep it clear of 0-2, which the child overwrites
        err_w.reset(::fcntl(p[1], F_DUPFD_CLOEXEC, 3));
    }

    pid_t pid = ::fork();
    if (pid < 0) throw RunnerError(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        // Child: async-signal-safe calls only.
        const int efd = err_w.get();
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig = 1; sig < NSIG; ++sig)
            if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
        if (::setsid() < 0) child_fail(efd, 0);
        if (s.nofile > 0) {
            rlimit rl{s.nofile, s.nofile};
            if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) child_fail(efd, 1);
        }
        if (::dup2(devnull.get(), 0) < 0 || ::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0)
            child_fail(efd, 2);
        if (::chdir(workdir.c_str()) != 0) child_fail(efd, 3);
        if (switch_user) {
            if (::setgroups(groups.size(), groups.data()) != 0) child_fail(efd, 4);
            if (::setgid(gid) != 0) child_fail(efd, 5);
            if (::setuid(uid) != 0) child_fail(efd, 6);
        }
        // Nothing of zdd's (lock file, sockets, BPF fds) may leak into the instance.
        if (efd > 3) ::close_range(3, efd - 1, 0);
        ::close_range(efd + 1, ~0U, 0);
        ::execve(argv[0], argv.data(), envp.data());
        child_fail(efd, 7);
    }
    err_w.reset();
    ChildFailure f{};
    ssize_t n;
    do {
        n = ::read(err_r.get(), &f, sizeof f);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof f)) {
        int st = 0;
        ::waitpid(pid, &st, 0);
        throw RunnerError("cannot start " + s.binary.string() + ": " + kSteps[f.step] + ": " +
                          std::strerror(f.err));
    }
    // Our unreaped child: its pid cannot be reused yet, so this identity is its own.
    auto st = read_proc_stat(pid);
    return ProcessRef{pid, st ? st->start_time : 0};
}

// --- systemd ---

namespace {

CommandResult systemctl_run(const std::string& bin, const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin};
    argv.insert(argv.end(), args.begin(), args.end());
    try {
        return run_command(argv, std::chrono::seconds(120));
    } catch (const CommandError& e) {
        throw RunnerError(e.what());
    }
}

}  // namespace

fs::path unit_env_file(const fs::path& state_dir, Color c) {
    return state_dir / (to_string(c) + ".env");
}

std::string render_env_file(const EnvVars& env) {
    std::string out = "# Written by zdd at each start of this color; the unit reads it.\n";
    for (const auto& [k, v] : env) {
        bool key_ok = !k.empty() && (std::isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_');
        for (unsigned char c : k) key_ok = key_ok && (std::isalnum(c) || c == '_');
        if (!key_ok) throw RunnerError("environment variable name '" + k + "' is not valid");
        if (has_control(v)) throw RunnerError("the value of " + k + " holds a control character");
        // Inside double quotes systemd's parser (like sh) unescapes \" \\ \` \$ and nothing else.
        out += k + "=\"";
        for (char c : v) {
            if (c == '"' || c == '\\' || c == '`' || c == '$') out += '\\';
            out += c;
        }
        out += "\"\n";
    }
    return out;
}

void SystemdRunner::write_args_dropin(Color c, const std::vector<std::string>& args) {
    const fs::path dir = runtime_dir_ / (unit(c) + ".d");
    const fs::path file = dir / "zdd-args.conf";
    std::string want;
    if (!args.empty()) {
        // An empty ExecStart= clears the unit's own; the new one runs the same link with args.
        want =
            "# Written by zdd: the arguments of the last deploy of this color.\n[Service]\n"
            "ExecStart=\nExecStart=" +
            unit_quote((state_dir_ / to_string(c)).string());
        for (const auto& a : args) want += " " + unit_quote(a);
        want += "\n";
    }
    std::optional<std::string> have;
    try {
        have = read_file_if_exists(file);
    } catch (const FileError& e) {
        throw RunnerError(e.what());
    }
    if (have.value_or("") == want) return;
    std::error_code ec;
    if (want.empty()) {
        fs::remove(file, ec);
    } else {
        fs::create_directories(dir, ec);
        try {
            write_file_atomic(file, want, 0644);
        } catch (const FileError& e) {
            throw RunnerError(e.what());
        }
    }
    auto r = systemctl_run(systemctl_, {"daemon-reload"});
    if (!r.ok()) throw RunnerError("systemctl daemon-reload failed: " + first_line(r.err));
}

ProcessRef SystemdRunner::start(const LaunchSpec& spec) {
    const std::string u = unit(spec.color);
    const fs::path env_path = unit_env_file(state_dir_, spec.color);
    try {
        // It holds the token: 0600 whatever mode an earlier file had.
        write_private_file_atomic(env_path, render_env_file(instance_environment(spec)));
    } catch (const FileError& e) {
        throw RunnerError(e.what());
    }
    write_args_dropin(spec.color, spec.args);
    auto r = systemctl_run(systemctl_, {"start", u});
    if (!r.ok())
        throw RunnerError(
            "systemctl start " + u + " failed: " +
            (first_line(r.err).empty() ? "exit " + std::to_string(r.status) : first_line(r.err)));
    auto show = systemctl_run(systemctl_, {"show", "--property=MainPID", "--value", u});
    pid_t pid = 0;
    try {
        pid = static_cast<pid_t>(std::stol(first_line(show.out)));
    } catch (const std::exception&) {
        pid = 0;
    }
    if (pid > 0)
        if (auto ref = process_ref(pid)) return *ref;
    return {};
}

bool SystemdRunner::alive(Color c, const ProcessRef&) {
    auto r = systemctl_run(systemctl_, {"show", "--property=ActiveState,SubState", unit(c)});
    if (!r.ok()) return false;
    std::string active, sub;
    size_t pos = 0;
    while (pos < r.out.size()) {
        size_t nl = r.out.find('\n', pos);
        if (nl == std::string::npos) nl = r.out.size();
        const std::string line = r.out.substr(pos, nl - pos);
        if (line.rfind("ActiveState=", 0) == 0) active = line.substr(12);
        if (line.rfind("SubState=", 0) == 0) sub = line.substr(9);
        pos = nl + 1;
    }
    if (active == "active" || active == "reloading" || active == "deactivating") return true;
    return active == "activating" && sub != "auto-restart";
}

bool SystemdRunner::signal(Color c, const ProcessRef&, int sig) {
    // A stop job first: systemd then knows the exit is wanted and Restart= stays out of it.
    // It sends KillSignal=SIGTERM (the graceful stop) and waits (TimeoutStopSec=infinity).
    auto stop = systemctl_run(systemctl_, {"stop", "--no-block", unit(c)});
    if (sig == SIGTERM) return stop.ok();
    // A cut: the main process gets the signal itself (SIGINT cancels streams, SIGKILL ends it).
    const char* name = sigabbrev_np(sig);
    std::string signame = name ? std::string("SIG") + name : std::to_string(sig);
    return systemctl_run(systemctl_, {"kill", "--kill-who=main", "--signal=" + signame, unit(c)})
        .ok();
}

bool SystemdRunner::wait_exit(Color c, const ProcessRef& p, std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    for (;;) {
        if (!alive(c, p)) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

std::optional<std::string> SystemdRunner::root_warning(const LaunchSpec& spec) {
    const std::string u = unit(spec.color);
    auto r = systemctl_run(systemctl_, {"show", "--property=User", "--value", u});
    const std::string user = first_line(r.out);
    if (!r.ok() || (!user.empty() && user != "root" && user != "0")) return std::nullopt;
    return "the units run the instance as root (no User=): `zdd install-units --run-as USER` "
           "gives it less";
}

std::string render_unit(const UnitSpec& s, Color c) {
    const std::string color = to_string(c);
    const std::string port = std::to_string(port_of(c, s.ports));
    const fs::path link = s.state_dir / color;
    std::string exec = unit_quote(link.string());
    for (const auto& a : s.args) exec += " " + unit_quote(a);
    std::string u;
    u += "# Written by zdd: ExecStart runs the release that " +
         unit_value("--state-dir", link.string()) + " links to.\n";
    u += "[Unit]\nDescription=" + unit_value("--service", s.service) + " (" + color + ", port " +
         port + "), deployed by zdd\nAfter=network.target\n\n";
    u += "[Service]\nType=simple\n";
    u += "ExecStart=" + exec + "\n";
    u += "Environment=PORT=" + port + "\n";
    u += "Environment=DEPLOYMENT_COLOR=" + color + "\n";
    if (!s.env_file.empty())
        u += "EnvironmentFile=" + unit_value("--env-file", s.env_file.string()) + "\n";
    // zdd writes this one at each start (the token, --env-file, PORT...): it is read last and
    // wins. The token never appears in the unit text, which any user may read.
    u += "EnvironmentFile=-" + unit_value("--state-dir", unit_env_file(s.state_dir, c).string()) +
         "\n";
    if (!s.workdir.empty())
        u += "WorkingDirectory=" + unit_value("--workdir", s.workdir.string()) + "\n";
    if (!s.run_as.empty()) {
        if (!valid_user_name(s.run_as)) throw RunnerError("--run-as: not a user name");
        u += "User=" + unit_value("--run-as", s.run_as) + "\n";
    }
    if (s.nofile > 0) u += "LimitNOFILE=" + std::to_string(s.nofile) + "\n";
    // SIGTERM lets streams finish; zdd itself decides when to cut (SIGINT, then SIGKILL).
    // Restart= covers crashes only: zdd stops and cuts through stop jobs, which it never undoes.
    u += "KillSignal=SIGTERM\nTimeoutStopSec=infinity\nRestart=on-failure\n\n";
    u += "[Install]\nWantedBy=multi-user.target\n";
    return u;
}

std::vector<fs::path> write_units(const UnitSpec& spec, const fs::path& dir) {
    std::vector<fs::path> out;
    for (Color c : kColors) {
        fs::path p = dir / (spec.service + "-" + to_string(c) + ".service");
        try {
            write_file_atomic(p, render_unit(spec, c), 0644);
        } catch (const FileError& e) {
            throw RunnerError(e.what());
        }
        out.push_back(p);
    }
    return out;
}

}  // namespace zdd
