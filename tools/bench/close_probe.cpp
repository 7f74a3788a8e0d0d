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

// One request/answer on each connection, so they look like real keepalive connections
// (the server side has sent and received data) rather than never-used ones.
void exchange(int client, int server) {
    char buf[8];
    check(::send(client, "ping\n", 5, MSG_NOSIGNAL) == 5, "send");
    check(::recv(server, buf, 5, MSG_WAITALL) == 5, "recv");
    check(::send(server, "pong\n", 5, MSG_NOSIGNAL) == 5, "send");
    check(::recv(client, buf, 5, MSG_WAITALL) == 5, "recv");
}

struct Pair {
    UniqueFd client;
    UniqueFd server;
};

std::vector<Pair> open_pairs(int listener, uint16_t port, int n) {
    std::vector<Pair> pairs;
    pairs.reserve(n);
    for (int i = 0; i < n; ++i) {
        Pair p;
        p.client = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        check(bool(p.client), "socket");
        auto a = loopback(port);
        check(::connect(p.client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "connect");
        p.server = UniqueFd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
        check(bool(p.server), "accept");
        exchange(p.client.get(), p.server.get());
        pairs.push_back(std::move(p));
    }
    return pairs;
}

// The server side closes first, as an app does when a stream ends; that is the close the
// waiter must notice. The client's close follows at once.
void close_pair(Pair& p) {
    p.server.reset();
    p.client.reset();
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
    int settle_ms = 1000;
    int jitter_ms = 1000;
    int gap_ms = 300;
    int close_over_ms = 0;  // > 0: close evenly over this long (the last at its end)
    bool no_close = false;
    double timeout_s = 10;
    std::string log = "/dev/null";
    std::vector<std::string> command;
};

// Both ends of every connection live here: 2 fds each.
void raise_fd_limit(int conns) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = 2 * static_cast<rlim_t>(conns) + 64;
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = std::min(want, rl.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        throw SetupError("RLIMIT_NOFILE is below " + std::to_string(want) + " (raise `ulimit -n`)");
}

void print_result(double latency_ms, int64_t close_rt_ns, const Waiter& w) {
    std::printf("latency_ms=%.3f close_realtime_ns=%lld waiter_rc=%d cpu_s=%.3f maxrss_kb=%ld\n",
                latency_ms, static_cast<long long>(close_rt_ns), w.rc, w.cpu_s, w.maxrss_kb);
}

int run_trial(const Options& o) {
    raise_fd_limit(o.conns);
    UniqueFd listener = listen_on(o.port, o.conns + 16);
    std::vector<Pair> pairs = open_pairs(listener.get(), o.port, o.conns);
    // The listener stays open: a port with no LISTEN socket is "gone", which ends a wait early.

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
    if (o.close_over_ms > 0) {
        // Pair i closes at start + D * (i + 1) / N: evenly, the last at start + D.
        const auto start = std::chrono::steady_clock::now();
        const auto n = static_cast<int64_t>(pairs.size());
        for (int64_t i = 0; i + 1 < n; ++i) {
            std::this_thread::sleep_until(
                start + std::chrono::microseconds(int64_t{o.close_over_ms} * 1000 * (i + 1) / n));
            close_pair(pairs[static_cast<size_t>(i)]);
        }
        std::this_thread::sleep_until(start + std::chrono::milliseconds(o.close_over_ms));
    } else {
        for (size_t i = 0; i + 1 < pairs.size(); ++i) close_pair(pairs[i]);
        std::this_thread::sleep_for(std::chrono::milliseconds(o.gap_ms));
    }
    if (waiter.exited()) {
        std::fprintf(stderr, "close-probe: the waiter exited (rc %d) before the last close\n",
                     waiter.rc);
        return kExitEarly;
    }

    const int64_t t0 = now_ns(CLOCK_MONOTONIC);
    const int64_t rt0 = now_ns(CLOCK_REALTIME);
    close_pair(pairs.back());
    if (!waiter.wait_exit(std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000)))) {
        std::fprintf(stderr, "close-probe: the waiter was still running %.1f s after the close\n",
                     o.timeout_s);
        return kExitTimeout;
    }
    const int64_t t1 = now_ns(CLOCK_MONOTONIC);
    print_result(static_cast<double>(t1 - t0) / 1e6, rt0, waiter);
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
