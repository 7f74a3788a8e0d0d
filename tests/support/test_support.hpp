// Shared helpers for tests: skip-or-fail for root/BPF/nginx tests, real sockets, processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"

namespace zdd_test {

using drainmon::UniqueFd;

bool in_ci();  // CI=true or CI=1 in the environment (as tests/support/skip.sh reads it)

// A test that cannot run here: exit 77 (ctest SKIP) outside CI, fail the test under CI.
[[noreturn]] void skip_or_fail(const std::string& why);
void require_root();  // root, with CAP_BPF/CAP_NET_ADMIN in practice

std::string build_dir();   // $ZDD_BUILD_DIR (set by ctest)
std::string source_dir();  // $ZDD_SOURCE_DIR

// TCP on real sockets. ip is "127.0.0.1", "::1", ...; port 0 picks a free one.
UniqueFd tcp_listen(const std::string& ip, uint16_t port, int backlog = 4096,
                    bool reuseport = false);
UniqueFd tcp_connect(const std::string& ip, uint16_t port);
UniqueFd tcp_accept(int listen_fd);  // blocks
uint16_t local_port(int fd);
// A port no socket uses now, from a block below the ephemeral range, never the same twice in
// one test process (the caller binds it soon: nothing else in the suite picks from that block).
uint16_t free_port();

// Run a shell command; returns its stdout, sets *status to the exit status (or -1).
std::string run_capture(const std::string& cmd, int* status = nullptr);
// `ss -Htn state established '( sport = :P )'` line count: the kernel's own answer.
int ss_established(uint16_t port);
// The same for any ss state filter ("time-wait", "connected", ...).
int ss_count(const std::string& state, uint16_t port);

// Poll pred every `step` until it holds or `timeout` passes; returns the last result.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(20));

// A child process killed (SIGKILL) and reaped on destruction unless it already exited.
class Subprocess {
  public:
    Subprocess(const std::vector<std::string>& argv,
               const std::map<std::string, std::string>& extra_env = {},
               const std::string& stdout_path = "", const std::string& stderr_path = "");
    ~Subprocess();
    Subprocess(Subprocess&& o) noexcept;
    Subprocess& operator=(Subprocess&&) = delete;
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;

    pid_t pid() const { return pid_; }
    void signal(int sig) const;
    // Wait up to timeout for exit; returns the exit status (or 128+signal), -1 on timeout.
    int wait(std::chrono::milliseconds timeout);
    bool running();

  private:
    pid_t pid_ = -1;
    int status_ = -1;
};

}  // namespace zdd_test
