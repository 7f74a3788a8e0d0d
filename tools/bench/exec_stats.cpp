// zdd-bench-exec: runs a command once and prints its wall time (CLOCK_MONOTONIC around fork and
// wait) and its peak resident set (wait4's ru_maxrss), so the benchmarks time drain-inspector
// and ss the same way, without GNU time's format differences.
//
// Output (stdout, one line): wall_ms=X maxrss_kb=Y rc=Z
// The command's stdout and stderr go to --out (default /dev/null).
// Exit codes: 0 the command ran (its own status is in rc=), 2 usage, 3 killed at --timeout-s,
// 4 could not start it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitTimeout = 3;
constexpr int kExitStart = 4;

int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int run(const std::vector<std::string>& command, const std::string& out, double timeout_s) {
    std::vector<char*> args;
    for (const auto& a : command) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    const int64_t t0 = now_ns();
    pid_t pid = ::fork();
    if (pid < 0) {
        std::fprintf(stderr, "exec-stats: fork: %s\n", std::strerror(errno));
        return kExitStart;
    }
    if (pid == 0) {
        int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "exec-stats: exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    drainmon::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    pollfd p{pidfd.get(), POLLIN, 0};
    bool timed_out = pidfd && ::poll(&p, 1, static_cast<int>(timeout_s * 1000)) == 0;
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    rusage ru{};
    ::wait4(pid, &status, 0, &ru);
    const int64_t t1 = now_ns();
    if (timed_out) {
        std::fprintf(stderr, "exec-stats: %s still running after %.1f s: killed\n", args[0],
                     timeout_s);
        return kExitTimeout;
    }
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::printf("wall_ms=%.3f maxrss_kb=%ld rc=%d\n", static_cast<double>(t1 - t0) / 1e6,
                ru.ru_maxrss, rc);
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"zdd-bench-exec: run COMMAND once; print its wall time and peak RSS (wait4)."};
    app.footer("Exit codes: 0 ran (see rc=), 2 usage, 3 killed at --timeout-s, 4 not started.");
    std::vector<std::string> command;
    std::string out = "/dev/null";
    double timeout_s = 120;
    app.add_option("--out", out, "File for the command's stdout and stderr (appended)")
        ->capture_default_str();
    app.add_option("--timeout-s", timeout_s, "Kill the command after this long")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    app.add_option("command", command, "The command, after --")->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }
    return run(command, out, timeout_s);
}
