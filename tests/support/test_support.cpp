#include "test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include <catch2/catch.hpp>

namespace zdd_test {

bool in_ci() {
    const char* ci = std::getenv("CI");
    return ci && (std::string(ci) == "true" || std::string(ci) == "1");
}

void skip_or_fail(const std::string& why) {
    if (in_ci()) FAIL("cannot run in CI, which must run it: " << why);
    std::fprintf(stderr, "SKIP: %s\n", why.c_str());
    std::exit(77);
}

void require_root() {
    if (geteuid() != 0) skip_or_fail("needs root (BPF, netns, nft, nginx)");
}

static std::string env_or(const char* name, const char* dflt) {
    const char* v = std::getenv(name);
    return v ? v : dflt;
}
std::string build_dir() {
    return env_or("ZDD_BUILD_DIR", ".");
}
std::string source_dir() {
    return env_or("ZDD_SOURCE_DIR", "..");
}

static socklen_t make_addr(const std::string& ip, uint16_t port, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (ip.find(':') != std::string::npos) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr) != 1)
            throw std::invalid_argument("bad IPv6 " + ip);
        return sizeof(sockaddr_in6);
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, ip.c_str(), &a->sin_addr) != 1)
        throw std::invalid_argument("bad IPv4 " + ip);
    return sizeof(sockaddr_in);
}

UniqueFd tcp_listen(const std::string& ip, uint16_t port, int backlog, bool reuseport) {
    sockaddr_storage ss;
    socklen_t len = make_addr(ip, port, ss);
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
        throw std::runtime_error("bind " + ip + ":" + std::to_string(port) + ": " +
                                 std::strerror(errno));
    if (::listen(fd.get(), backlog) != 0)
        throw std::runtime_error(std::string("listen: ") + std::strerror(errno));
    return fd;
}

UniqueFd tcp_connect(const std::string& ip, uint16_t port) {
    sockaddr_storage ss;
    socklen_t len = make_addr(ip, port, ss);
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
        throw std::runtime_error("connect " + ip + ":" + std::to_string(port) + ": " +
                                 std::strerror(errno));
    return fd;
}

UniqueFd tcp_accept(int listen_fd) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) throw std::runtime_error(std::string("accept: ") + std::strerror(errno));
    return UniqueFd(fd);
}

uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

namespace {

// Test ports come from below the kernel's ephemeral range (ip_local_port_range), as
// scripts/demo.sh picks its own: ports handed out there are never taken by a connect() of this
// or another test between free_port() and the bind that uses them.
std::pair<uint16_t, uint16_t> test_port_range() {
    unsigned lo = 32768, hi = 60999;
    if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
        if (std::fscanf(f, "%u %u", &lo, &hi) != 2) lo = 32768, hi = 60999;
        std::fclose(f);
    }
    if (lo >= 5024) return {static_cast<uint16_t>(lo - 4000), static_cast<uint16_t>(lo - 1)};
    if (hi <= 61535) return {static_cast<uint16_t>(hi + 1), static_cast<uint16_t>(hi + 4000)};
    return {10000, 13999};  // the ephemeral range is everything: any block is as good
}

// Nothing uses the port on IPv4 or IPv6 (listening, connected or in TIME_WAIT): a bind without
// SO_REUSEADDR to the wildcard address fails on any of those.
bool port_unused(uint16_t port) {
    for (int family : {AF_INET, AF_INET6}) {
        UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd && family == AF_INET6 && errno == EAFNOSUPPORT) continue;  // no IPv6 here
        if (!fd) return false;
        sockaddr_storage ss{};
        socklen_t len;
        if (family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(port);
            len = sizeof *a;
        } else {
            int one = 1;
            ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(port);
            len = sizeof *a;
        }
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return false;
    }
    return true;
}

}  // namespace

uint16_t free_port() {
    // Per process: a port is handed out once per run. Between processes (ctest -j) a random
    // start makes a clash unlikely, and port_unused() skips any port already taken.
    static std::mutex mu;
    static std::set<uint16_t> handed;
    static std::mt19937 rng(static_cast<unsigned>(::getpid()) ^
                            static_cast<unsigned>(std::random_device{}()));
    std::lock_guard<std::mutex> lock(mu);
    const auto [lo, hi] = test_port_range();
    const unsigned span = hi - lo + 1u;
    unsigned i = std::uniform_int_distribution<unsigned>(0, span - 1)(rng);
    for (unsigned tried = 0; tried < span; ++tried, i = (i + 1) % span) {
        const auto p = static_cast<uint16_t>(lo + i);
        if (handed.count(p) || !port_unused(p)) continue;
        handed.insert(p);
        return p;
    }
    throw std::runtime_error("free_port: no free port left in " + std::to_string(lo) + "-" +
                             std::to_string(hi));
}

std::string run_capture(const std::string& cmd, int* status) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) {
        if (status) *status = -1;
        return out;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = ::pclose(p);
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

int ss_count(const std::string& state, uint16_t port) {
    std::string out = run_capture("ss -Htn state " + state +
                                  " '( sport = :" + std::to_string(port) + " )' | wc -l");
    return std::atoi(out.c_str());
}

int ss_established(uint16_t port) {
    return ss_count("established", port);
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(step);
    }
}

Subprocess::Subprocess(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& extra_env,
                       const std::string& stdout_path, const std::string& stderr_path) {
    if (argv.empty()) throw std::invalid_argument("Subprocess: empty argv");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
        ::setpgid(0, 0);
        for (auto& [k, v] : extra_env) ::setenv(k.c_str(), v.c_str(), 1);
        // Truncated: output is this child's alone (a path shared by both streams is opened
        // once, so neither overwrites the other).
        auto redirect = [](const std::string& path, int target) {
            if (path.empty()) return;
            int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                ::dup2(fd, target);
                ::close(fd);
            }
        };
        redirect(stdout_path, 1);
        if (!stderr_path.empty() && stderr_path == stdout_path)
            ::dup2(1, 2);
        else
            redirect(stderr_path, 2);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
}

Subprocess::Subprocess(Subprocess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), status_(o.status_) {}

Subprocess::~Subprocess() {
    if (pid_ > 0 && status_ < 0) {
        ::kill(pid_, SIGKILL);
        int st;
        ::waitpid(pid_, &st, 0);
    }
}

void Subprocess::signal(int sig) const {
    if (pid_ > 0 && status_ < 0) ::kill(pid_, sig);
}

int Subprocess::wait(std::chrono::milliseconds timeout) {
    if (status_ >= 0) return status_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        int st;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return status_;
        }
        if (std::chrono::steady_clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

bool Subprocess::running() {
    return wait(std::chrono::milliseconds(0)) < 0;
}

}  // namespace zdd_test
