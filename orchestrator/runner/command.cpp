#include "runner/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.hpp"

extern char** environ;

namespace zdd {

using drainmon::UniqueFd;
using Clock = std::chrono::steady_clock;

namespace {

// Kills and reaps the child unless it was reaped already, so no path leaks a process.
struct ChildGuard {
    pid_t pid = -1;
    ~ChildGuard() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
    }
};

struct SpawnActions {
    posix_spawn_file_actions_t a;
    SpawnActions() { posix_spawn_file_actions_init(&a); }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&a); }
};

int decode_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          std::size_t max_output) {
    if (argv.empty()) throw CommandError("run_command: empty argv");
    int out_p[2], err_p[2];
    if (::pipe2(out_p, O_CLOEXEC) != 0) throw CommandError(std::string("pipe: ") + strerror(errno));
    UniqueFd out_r(out_p[0]), out_w(out_p[1]);
    if (::pipe2(err_p, O_CLOEXEC) != 0) throw CommandError(std::string("pipe: ") + strerror(errno));
    UniqueFd err_r(err_p[0]), err_w(err_p[1]);

    SpawnActions fa;
    posix_spawn_file_actions_addopen(&fa.a, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa.a, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&fa.a, err_w.get(), 2);

    std::vector<char*> cargv;
    for (const auto& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
    cargv.push_back(nullptr);

    ChildGuard child;
    int rc = ::posix_spawnp(&child.pid, cargv[0], &fa.a, nullptr, cargv.data(), environ);
    if (rc != 0) {
        child.pid = -1;
        throw CommandError("cannot run " + argv[0] + ": " + std::strerror(rc));
    }
    out_w.reset();
    err_w.reset();

    CommandResult res;
    const auto deadline = Clock::now() + timeout;
    bool out_open = true, err_open = true;
    char buf[8192];
    while (out_open || err_open) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            res.timed_out = true;
            break;
        }
        pollfd pf[2] = {{out_open ? out_r.get() : -1, POLLIN, 0},
                        {err_open ? err_r.get() : -1, POLLIN, 0}};
        int n = ::poll(pf, 2, static_cast<int>(left.count()));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw CommandError(std::string("poll: ") + std::strerror(errno));
        }
        for (int i = 0; i < 2; ++i) {
            if (pf[i].fd < 0 || pf[i].revents == 0) continue;
            ssize_t r = ::read(pf[i].fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                (i == 0 ? out_open : err_open) = false;
                continue;
            }
            std::string& dst = i == 0 ? res.out : res.err;
            if (dst.size() < max_output)
                dst.append(buf, std::min<std::size_t>(static_cast<std::size_t>(r),
                                                      max_output - dst.size()));
        }
    }
    // Pipes closed (or time is up): reap within what is left of the bound.
    int st = 0;
    for (;;) {
        pid_t w = ::waitpid(child.pid, &st, WNOHANG);
        if (w == child.pid) {
            child.pid = -1;
            res.status = decode_status(st);
            break;
        }
        if (w < 0 && errno != EINTR) {
            child.pid = -1;
            break;
        }
        if (res.timed_out || Clock::now() >= deadline) {
            res.timed_out = true;
            break;  // ChildGuard kills and reaps it
        }
        ::usleep(2000);
    }
    return res;
}

std::string first_line(const std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t j = s.find('\n', i);
        if (j == std::string::npos) j = s.size();
        std::string line = s.substr(i, j - i);
        auto b = line.find_first_not_of(" \t\r");
        if (b != std::string::npos) {
            auto e = line.find_last_not_of(" \t\r");
            return line.substr(b, e - b + 1);
        }
        i = j + 1;
    }
    return "";
}

}  // namespace zdd
