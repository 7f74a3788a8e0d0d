#include "runner/instance_runner.hpp"

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

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "state/atomic_file.hpp"
#include "runner/command.hpp"
#include "runner/proc.hpp"
#include "common/unique_fd.hpp"

extern char** environ;

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

std::string unit_quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '%') out += '%';
        if (c == '$') out += '$';
        out += c;
    }
    return out + "\"";
}

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
    struct stat lst {};
    if (::stat(s.log_file.c_str(), &lst) == 0 &&
        static_cast<uint64_t>(lst.st_size) > s.log_max_bytes)
        fs::rename(s.log_file, s.log_file.string() + ".1", ec);  // one rotated file kept
    UniqueFd log(
        ::open(s.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640));
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
        // The instance must be able to write its own log after dropping privileges.
        if (::fchown(log.get(), uid, gid) != 0) {
        }
    }

    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : s.extra_env) env[k] = v;
    env["PORT"] = std::to_string(s.port);
    env["DEPLOYMENT_COLOR"] = to_string(s.color);
    if (!s.token.empty()) env[kTokenEnv] = s.token.reveal();
    if (switch_user) {
        env["USER"] = env["LOGNAME"] = s.run_as;
        env["HOME"] = home;
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

ProcessRef SystemdRunner::start(const LaunchSpec& spec) {
    const std::string u = unit(spec.color);
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
    return systemctl_run(systemctl_, {"is-active", "--quiet", unit(c)}).ok();
}

bool SystemdRunner::signal(Color c, const ProcessRef&, int sig) {
    // systemd owns the pid: let it deliver the signal to the unit's main process.
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

void SystemdRunner::stop(Color c) {
    auto r = systemctl_run(systemctl_, {"stop", unit(c)});
    if (!r.ok()) throw RunnerError("systemctl stop " + unit(c) + " failed: " + first_line(r.err));
}

std::string render_unit(const UnitSpec& s, Color c) {
    const std::string color = to_string(c);
    std::string exec = unit_quote((s.state_dir / color).string());
    for (const auto& a : s.args) exec += " " + unit_quote(a);
    std::string u;
    u += "# Written by zdd: ExecStart runs the release that " + (s.state_dir / color).string() +
         " links to.\n";
    u += "[Unit]\nDescription=" + s.service + " (" + color + ", port " +
         std::to_string(port_of(c, s.ports)) + "), deployed by zdd\nAfter=network.target\n\n";
    u += "[Service]\nType=simple\n";
    u += "ExecStart=" + exec + "\n";
    u += "Environment=PORT=" + std::to_string(port_of(c, s.ports)) + "\n";
    u += "Environment=DEPLOYMENT_COLOR=" + color + "\n";
    // The token reaches the unit through its env file, never through the unit text.
    if (!s.token_file.empty()) u += "EnvironmentFile=-" + s.token_file.string() + "\n";
    if (!s.env_file.empty()) u += "EnvironmentFile=" + s.env_file.string() + "\n";
    if (!s.workdir.empty()) u += "WorkingDirectory=" + s.workdir.string() + "\n";
    if (!s.run_as.empty()) u += "User=" + s.run_as + "\n";
    if (s.nofile > 0) u += "LimitNOFILE=" + std::to_string(s.nofile) + "\n";
    // SIGTERM lets streams finish; zdd itself decides when to cut (SIGINT, then SIGKILL).
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
