// zdd-bench-close-probe: one drain-latency trial. It holds N loopback connections on a port,
// starts a waiter command (drain-inspector wait, or an ss polling loop), closes the
// connections, and prints how long after the LAST close the waiter exited. Both instants are
// taken here with CLOCK_MONOTONIC, and the waiter's exit is seen through a pidfd, so the figure
// is the waiter's own latency plus a few microseconds.
//
// For the drain cost (issue 10), the closes can be spread evenly over --close-over-ms, and
// --no-close holds everything for --settle-ms, then stops the waiter (SIGTERM): the waiter's CPU
// (user+sys of it and the children it reaped, from wait4) is printed either way.
//
// The connections are held by --procs worker processes (default: as few as keep each under the
// fd limit and 9,000 fds), so N up to 60,000 works where RLIMIT_NOFILE's hard limit is below
// 2 N. The workers close their server ends interleaved on one schedule, report the instant of
// their last close, and the latest of those is "the last close".
//
// Output (stdout, one line): latency_ms=X close_realtime_ns=T waiter_rc=R cpu_s=C maxrss_kb=M
// (with --no-close: latency_ms=nan and close_realtime_ns=0)
// Exit codes: 0 trial done, 1 the waiter exited before the last close (trial invalid),
// 2 usage, 3 the waiter did not exit within --timeout-s of the close (killed), 4 socket setup.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"

namespace {

using drainmon::UniqueFd;

constexpr int kExitOk = 0;
constexpr int kExitEarly = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTimeout = 3;
constexpr int kExitSetup = 4;

struct SetupError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

int64_t now_ns(clockid_t clock) {
    timespec ts{};
    ::clock_gettime(clock, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

void check(bool ok, const std::string& what) {
    if (!ok) throw SetupError(what + ": " + std::strerror(errno));
}

UniqueFd listen_on(uint16_t port, int backlog) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    check(bool(fd), "socket");
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto a = loopback(port);
    check(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0,
          "bind 127.0.0.1:" + std::to_string(port));
    check(::listen(fd.get(), backlog) == 0, "listen");
    return fd;
}

// The probe's share of the connections held by one worker process. The parent holds only the
// listener; each worker opens its share of client ends and accepts as many server ends from the
// shared listener (which pairs land in which worker does not matter), so no process needs more
// than about 2 * N / K fds: RLIMIT_NOFILE's hard limit may be below 2 * N and not be raisable.
//
// Connections are numbered g = j * K + i (worker i's j-th server end): the closes follow that
// order over the window, so together the K workers close evenly, as one process would.
struct Schedule {
    int64_t start_ns = 0;  // CLOCK_MONOTONIC
    int64_t n = 0;
    int64_t over_ns = 0;  // > 0: close g at start + over * (g + 1) / n
    int64_t gap_ns = 0;   // over == 0: all at start, the last (g = n - 1) at start + gap
    int64_t at(int64_t g) const {
        if (over_ns > 0) return start_ns + over_ns * (g + 1) / n;
        return g + 1 == n ? start_ns + gap_ns : start_ns;
    }
};

// What a worker tells the parent after its last close.
struct LastClose {
    int64_t mono_ns = 0;
    int64_t realtime_ns = 0;
};

void write_all(int fd, const void* buf, size_t len) {
    const auto* p = static_cast<const char*>(buf);
    while (len > 0) {
        ssize_t w = ::write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        check(w > 0, "write");
        p += w;
        len -= static_cast<size_t>(w);
    }
}

// False on EOF before len bytes (the other side is gone).
bool read_all(int fd, void* buf, size_t len) {
    auto* p = static_cast<char*>(buf);
    while (len > 0) {
        ssize_t r = ::read(fd, p, len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        len -= static_cast<size_t>(r);
    }
    return true;
}

// Worker `index` of `procs`: its clients connect from 127.0.0.(index + 1), so each source
// address needs only its own share of ephemeral ports (60,000 from one address would not fit).
[[noreturn]] void worker_main(int index, int procs, int listener, uint16_t port, int64_t n, int ctl,
                              int report) {
    try {
        std::vector<UniqueFd> clients, servers;
        const int64_t share = (n - index + procs - 1) / procs;  // g = index, index + K, ...
        clients.reserve(static_cast<size_t>(share));
        servers.reserve(static_cast<size_t>(share));
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + static_cast<uint32_t>(index));
        const auto dst = loopback(port);
        char buf[8];
        // Connect one, accept one: the accept queue never holds more than about K connections,
        // and a client's ping is sent before its worker can block in accept, so nothing waits on
        // a ping that is not coming.
        for (int64_t j = 0; j < share; ++j) {
            UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            check(bool(c), "socket");
            int one = 1;
            ::setsockopt(c.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            check(::bind(c.get(), reinterpret_cast<const sockaddr*>(&src), sizeof src) == 0,
                  "bind the client's source address");
            check(::connect(c.get(), reinterpret_cast<const sockaddr*>(&dst), sizeof dst) == 0,
                  "connect");
            check(::send(c.get(), "ping\n", 5, MSG_NOSIGNAL) == 5, "send");
            clients.push_back(std::move(c));
            UniqueFd s(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
            check(bool(s), "accept");
            check(::recv(s.get(), buf, 5, MSG_WAITALL) == 5, "recv");
            check(::send(s.get(), "pong\n", 5, MSG_NOSIGNAL) == 5, "send");
            servers.push_back(std::move(s));
        }
        // Every server end answers as soon as it is accepted, in whichever worker.
        for (auto& c : clients) check(::recv(c.get(), buf, 5, MSG_WAITALL) == 5, "recv");
        write_all(report, "r", 1);

        Schedule sched;
        if (!read_all(ctl, &sched, sizeof sched)) ::_exit(0);  // the parent ended the trial
        // The server side closes first, as an app does when a stream ends; the client ends stay
        // open until the parent is done, so no server end sees a FIN before its own close.
        LastClose last;
        for (int64_t j = 0; j < share; ++j) {
            const int64_t at = sched.at(j * procs + index);
            timespec ts{static_cast<time_t>(at / 1'000'000'000),
                        static_cast<long>(at % 1'000'000'000)};
            while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
            }
            servers[static_cast<size_t>(j)].reset();
            last.mono_ns = now_ns(CLOCK_MONOTONIC);
            last.realtime_ns = now_ns(CLOCK_REALTIME);
        }
        write_all(report, &last, sizeof last);
        char end;
        (void)read_all(ctl, &end, 1);  // EOF: the parent is done; the client ends close at exit
        ::_exit(0);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "close-probe worker %d: %s\n", index, e.what());
        ::_exit(kExitSetup);
    }
}

// The K workers: killed and reaped at scope exit.
class Workers {
  public:
    Workers(int procs, int listener, uint16_t port, int64_t n) {
        for (int i = 0; i < procs; ++i) {
            int ctl[2], rep[2];
            check(::pipe2(ctl, O_CLOEXEC) == 0, "pipe");
            UniqueFd ctl_r(ctl[0]), ctl_w(ctl[1]);
            check(::pipe2(rep, O_CLOEXEC) == 0, "pipe");
            UniqueFd rep_r(rep[0]), rep_w(rep[1]);
            const pid_t parent = ::getpid();
            pid_t pid = ::fork();
            check(pid >= 0, "fork");
            if (pid == 0) {
                ::prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (::getppid() != parent) ::_exit(kExitSetup);
                // Earlier workers' pipe ends are closed so that their EOFs stay meaningful.
                for (auto& fd : ctl_) fd.reset();
                for (auto& fd : report_) fd.reset();
                ctl_w.reset();
                rep_r.reset();
                worker_main(i, procs, listener, port, n, ctl_r.get(), rep_w.get());
            }
            pids_.push_back(pid);
            ctl_.push_back(std::move(ctl_w));
            report_.push_back(std::move(rep_r));
        }
    }
    ~Workers() {
        ctl_.clear();
        for (pid_t pid : pids_) ::kill(pid, SIGKILL);
        for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
    }
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    size_t size() const { return pids_.size(); }
    int report_fd(size_t i) const { return report_[i].get(); }
    void go(const Schedule& s) {
        for (auto& fd : ctl_) write_all(fd.get(), &s, sizeof s);
    }

  private:
    std::vector<pid_t> pids_;
    std::vector<UniqueFd> ctl_;     // parent -> worker: the schedule, then EOF at the end
    std::vector<UniqueFd> report_;  // worker -> parent: ready, then its last close
};

// Waits (bounded) until every worker has set up its share.
void wait_ready(const Workers& w, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (size_t i = 0; i < w.size(); ++i) {
        pollfd p{w.report_fd(i), POLLIN, 0};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0)
            throw SetupError("worker " + std::to_string(i) + " did not set up its connections in " +
                             std::to_string(timeout.count() / 1000) + " s");
        char c = 0;
        if (!read_all(w.report_fd(i), &c, 1) || c != 'r')
            throw SetupError("worker " + std::to_string(i) +
                             " failed to set up its connections (see its message above)");
    }
}

// A child process owned by the probe: killed and reaped if still running at scope exit.
class Waiter {
  public:
    Waiter(const std::vector<std::string>& argv, const std::string& log) {
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        pid_ = ::fork();
        check(pid_ >= 0, "fork");
        if (pid_ == 0) {
            int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (out >= 0) {
                ::dup2(out, 1);
                ::dup2(out, 2);
            }
            ::execvp(args[0], args.data());
            std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
            ::_exit(127);
        }
        pidfd_ = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
        check(bool(pidfd_), "pidfd_open");
    }
    ~Waiter() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    // True when the child exited within timeout (then reaped; rc holds its exit status).
    bool wait_exit(std::chrono::milliseconds timeout) {
        pollfd p{pidfd_.get(), POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (r <= 0) return false;
        int status = 0;
        rusage ru{};
        ::wait4(pid_, &status, 0, &ru);
        pid_ = -1;
        cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
        maxrss_kb = ru.ru_maxrss;
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
    }
    bool exited() { return wait_exit(std::chrono::milliseconds(0)); }
    int pidfd() const { return pidfd_.get(); }
    // SIGTERM, then SIGKILL after `grace`; reaped (rc, cpu_s set).
    void stop(std::chrono::milliseconds grace) {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        if (wait_exit(grace)) return;
        ::kill(pid_, SIGKILL);
        wait_exit(std::chrono::milliseconds(-1));
    }

    int rc = -1;
    double cpu_s = 0;  // user + sys of the waiter and the children it reaped
    long maxrss_kb = 0;

  private:
    pid_t pid_ = -1;
    UniqueFd pidfd_;
};

struct Options {
    uint16_t port = 0;
    int conns = 8;
    int procs = 0;  // 0: as few as fit the fd limit
    int settle_ms = 1000;
    int jitter_ms = 1000;
    int gap_ms = 300;
    int close_over_ms = 0;  // > 0: close evenly over this long (the last at its end)
    bool no_close = false;
    double timeout_s = 10;
    std::string log = "/dev/null";
    std::vector<std::string> command;
};

// Each worker holds both ends of its share: 2 fds per connection, plus a few. A process keeps
// under kMaxFdsPerProc even when the limit is higher, so the split does not depend on the host.
constexpr int64_t kMaxFdsPerProc = 9000;
constexpr int64_t kFdSlack = 64;

int choose_procs(const Options& o) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {  // the soft limit may go up to the hard one unprivileged
        rlimit up = rl;
        up.rlim_cur = std::min<rlim_t>(rl.rlim_max, kMaxFdsPerProc);
        if (up.rlim_cur > rl.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    const int64_t limit = static_cast<int64_t>(rl.rlim_cur);
    const auto need = [&](int64_t k) { return 2 * ((o.conns + k - 1) / k) + kFdSlack; };
    if (o.procs > 0) {
        if (need(o.procs) > limit)
            throw SetupError("--procs " + std::to_string(o.procs) + " needs " +
                             std::to_string(need(o.procs)) + " fds per process; RLIMIT_NOFILE is " +
                             std::to_string(limit));
        return o.procs;
    }
    const int64_t budget = std::min(limit, kMaxFdsPerProc);
    if (budget <= kFdSlack + 2)
        throw SetupError("RLIMIT_NOFILE is too low: " + std::to_string(limit));
    int64_t k = 1;
    while (need(k) > budget) ++k;
    return static_cast<int>(k);
}

void print_result(double latency_ms, int64_t close_rt_ns, const Waiter& w) {
    std::printf("latency_ms=%.3f close_realtime_ns=%lld waiter_rc=%d cpu_s=%.3f maxrss_kb=%ld\n",
                latency_ms, static_cast<long long>(close_rt_ns), w.rc, w.cpu_s, w.maxrss_kb);
}

int run_trial(const Options& o) {
    const int procs = choose_procs(o);
    if (procs > 250) throw SetupError("too many worker processes: " + std::to_string(procs));
    // The backlog only has to hold the connections between a connect and its accept (about
    // one per worker); the kernel caps it at net.core.somaxconn anyway.
    UniqueFd listener = listen_on(o.port, std::min(o.conns + 16, 65535));
    // The listener stays open: a port with no LISTEN socket is "gone", which ends a wait early.
    Workers workers(procs, listener.get(), o.port, o.conns);
    wait_ready(workers, std::chrono::seconds(300));

    Waiter waiter(o.command, o.log);
    // The jitter puts the close at a random phase of a polling waiter's cycle.
    std::mt19937 rng(static_cast<unsigned>(now_ns(CLOCK_MONOTONIC)));
    int jitter = o.jitter_ms > 0 ? std::uniform_int_distribution<int>(0, o.jitter_ms)(rng) : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms + jitter));
    if (waiter.exited()) {
        std::fprintf(stderr, "close-probe: the waiter exited (rc %d) before any close\n",
                     waiter.rc);
        return kExitEarly;
    }
    if (o.no_close) {
        waiter.stop(std::chrono::seconds(5));
        print_result(std::nan(""), 0, waiter);
        return kExitOk;
    }

    Schedule sched;
    sched.n = o.conns;
    sched.over_ns = int64_t{o.close_over_ms} * 1'000'000;
    sched.gap_ns = o.close_over_ms > 0 ? 0 : int64_t{o.gap_ms} * 1'000'000;
    sched.start_ns = now_ns(CLOCK_MONOTONIC) + 5'000'000;  // every worker starts on time
    workers.go(sched);
    const int64_t span_ns = sched.at(o.conns - 1) - sched.start_ns;
    const int64_t timeout_ns = static_cast<int64_t>(o.timeout_s * 1e9);

    // Collect every worker's last close and the waiter's exit, whichever order they come in.
    std::vector<bool> reported(workers.size(), false);
    size_t pending = workers.size();
    LastClose last;
    int64_t exit_ns = -1;
    while (pending > 0 || exit_ns < 0) {
        const int64_t deadline = pending > 0
                                     ? sched.start_ns + span_ns + timeout_ns + 10'000'000'000
                                     : last.mono_ns + timeout_ns;
        const int64_t now = now_ns(CLOCK_MONOTONIC);
        if (now >= deadline) break;
        std::vector<pollfd> fds;
        std::vector<size_t> which;
        for (size_t i = 0; i < workers.size(); ++i) {
            if (reported[i]) continue;
            fds.push_back({workers.report_fd(i), POLLIN, 0});
            which.push_back(i);
        }
        if (exit_ns < 0) fds.push_back({waiter.pidfd(), POLLIN, 0});
        const int wait_ms =
            static_cast<int>(std::min<int64_t>((deadline - now) / 1'000'000 + 1, 1000));
        if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) check(false, "poll");
        for (size_t k = 0; k < which.size(); ++k) {
            if (fds[k].revents == 0) continue;
            LastClose lc;
            if (!read_all(fds[k].fd, &lc, sizeof lc))
                throw SetupError("worker " + std::to_string(which[k]) + " died in the close phase");
            reported[which[k]] = true;
            --pending;
            if (lc.mono_ns > last.mono_ns) last = lc;
        }
        if (exit_ns < 0 && fds.back().revents != 0) {
            exit_ns = now_ns(CLOCK_MONOTONIC);
            waiter.wait_exit(std::chrono::milliseconds(-1));
        }
    }
    if (pending > 0) throw SetupError("a worker did not finish its closes in time");
    if (exit_ns < 0) {
        std::fprintf(stderr, "close-probe: the waiter was still running %.1f s after the close\n",
                     o.timeout_s);
        return kExitTimeout;
    }
    if (exit_ns < last.mono_ns) {
        std::fprintf(stderr, "close-probe: the waiter exited (rc %d) before the last close\n",
                     waiter.rc);
        return kExitEarly;
    }
    print_result(static_cast<double>(exit_ns - last.mono_ns) / 1e6, last.realtime_ns, waiter);
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "zdd-bench-close-probe: one drain-latency trial. Holds --conns connections on\n"
        "127.0.0.1:PORT, runs COMMAND (the waiter), closes the connections (the last one\n"
        "after --gap-ms), and prints how long after the last close COMMAND exited."};
    app.footer(
        "Exit codes: 0 done, 1 the waiter exited before the last close, 2 usage, "
        "3 the waiter outlived --timeout-s, 4 socket setup failed.");
    Options o;
    app.add_option("-p,--port", o.port, "Port to hold the connections on")
        ->required()
        ->check(CLI::Range(1, 65535));
    app.add_option("-n,--conns", o.conns, "Connections held until the close phase")
        ->check(CLI::Range(1, 60000))
        ->capture_default_str();
    app.add_option("--procs", o.procs,
                   "Worker processes holding the connections (0: as few as keep each under "
                   "the fd limit and 9,000 fds)")
        ->check(CLI::Range(0, 250))
        ->capture_default_str();
    app.add_option("--settle-ms", o.settle_ms, "Time the waiter gets to start before any close")
        ->check(CLI::Range(0, 60000))
        ->capture_default_str();
    app.add_option("--jitter-ms", o.jitter_ms, "Random extra settle time, uniform in [0, J]")
        ->check(CLI::Range(0, 60000))
        ->capture_default_str();
    app.add_option("--gap-ms", o.gap_ms, "Pause between the other closes and the last one")
        ->check(CLI::Range(0, 60000))
        ->capture_default_str();
    app.add_option("--close-over-ms", o.close_over_ms,
                   "Close evenly over this long instead (the last at its end; --gap-ms unused)")
        ->check(CLI::Range(0, 600000))
        ->capture_default_str();
    app.add_flag("--no-close", o.no_close,
                 "Close nothing: after the settle time, stop the waiter and print its CPU");
    app.add_option("--timeout-s", o.timeout_s, "How long the waiter may take after the close")
        ->check(CLI::Range(0.1, 600.0))
        ->capture_default_str();
    app.add_option("--log", o.log, "File for the waiter's stdout and stderr (appended)")
        ->capture_default_str();
    app.add_option("command", o.command, "The waiter command, after --")->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }
    ::signal(SIGPIPE, SIG_IGN);
    try {
        return run_trial(o);
    } catch (const SetupError& e) {
        std::fprintf(stderr, "close-probe: %s\n", e.what());
        return kExitSetup;
    }
}
