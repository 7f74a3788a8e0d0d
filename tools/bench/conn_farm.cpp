// zdd-bench-conn-farm: one process of the scale benchmark. It listens on DEST:PORT with
// SO_REUSEPORT (so several farm processes share the port and split the accepted sockets), opens
// --connect connections to it from --source, and holds everything until SIGTERM/SIGINT or
// --hold-s. A process may hold at most 20,000 fds here, so 50,000 connections (100,000 fds with
// both ends on loopback) need several processes and several source addresses.
//
// stdout: "connected N" once its connections are up, then "accepted M" when --hold-s ends or a
// signal arrives. Exit codes: 0 ok, 2 usage, 3 connect failed, 4 socket setup failed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"

namespace {

using drainmon::UniqueFd;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitConnect = 3;
constexpr int kExitSetup = 4;
// fds beyond the sockets: stdio, the listener, a margin.
constexpr rlim_t kSpareFds = 64;

struct SetupError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct ConnectError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

sockaddr_in address(const std::string& ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1)
        throw SetupError("not an IPv4 address: " + ip);
    return a;
}

// Closing with an RST (SO_LINGER 0) leaves no TIME_WAIT socket behind: tens of thousands of them
// would stay for 60 s and slow down whatever walks the host's sockets next (the next size, the
// next benchmark).
void abort_on_close(const std::vector<UniqueFd>& fds) {
    linger l{1, 0};
    for (const auto& fd : fds) ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

rlim_t raise_fd_limit() {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
    return lim.rlim_cur;
}

// Accepts on a SO_REUSEPORT listener until stopped or out of fds (then the kernel keeps the
// rest established in the accept queue, which still counts as established on the port).
class Acceptor {
  public:
    Acceptor(const sockaddr_in& at, size_t max_fds) : max_(max_fds) {
        fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!fd_) throw SetupError(std::string("socket: ") + std::strerror(errno));
        int one = 1;
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0)
            throw SetupError(std::string("bind: ") + std::strerror(errno));
        if (::listen(fd_.get(), 4096) != 0)
            throw SetupError(std::string("listen: ") + std::strerror(errno));
        thread_ = std::thread([this] { loop(); });
    }
    ~Acceptor() {
        stop_ = true;
        thread_.join();
        abort_on_close(accepted_);
    }
    Acceptor(const Acceptor&) = delete;
    Acceptor& operator=(const Acceptor&) = delete;

    size_t count() {
        std::lock_guard lk(mu_);
        return accepted_.size();
    }

  private:
    void loop() {
        while (!stop_) {
            pollfd p{fd_.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            for (;;) {
                std::lock_guard lk(mu_);
                if (accepted_.size() >= max_) break;
                int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
                if (c < 0) break;
                accepted_.emplace_back(c);
            }
            if (count() >= max_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

    UniqueFd fd_;
    size_t max_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<UniqueFd> accepted_;
    std::thread thread_;
};

std::vector<UniqueFd> connect_all(const sockaddr_in& src, const sockaddr_in& dst, int n) {
    std::vector<UniqueFd> fds;
    fds.reserve(n);
    for (int i = 0; i < n; ++i) {
        UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) throw ConnectError(std::string("socket: ") + std::strerror(errno));
        // The source port is picked at connect() time per 4-tuple, not per address at bind().
        int one = 1;
        ::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0)
            throw ConnectError(std::string("bind source: ") + std::strerror(errno));
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0)
            throw ConnectError("connect #" + std::to_string(i + 1) + ": " + std::strerror(errno));
        fds.push_back(std::move(fd));
    }
    return fds;
}

struct Options {
    uint16_t port = 0;
    int connect = 0;
    std::string source = "127.0.0.1";
    std::string dest = "127.0.0.1";
    bool listen = false;
    int delay_ms = 0;
    double hold_s = 600;
};

int run(const Options& o) {
    const rlim_t limit = raise_fd_limit();
    if (static_cast<rlim_t>(o.connect) + kSpareFds > limit)
        throw SetupError("--connect " + std::to_string(o.connect) +
                         " exceeds the open-file limit " + std::to_string(limit));
    const auto dst = address(o.dest, o.port);
    const auto src = address(o.source, 0);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the acceptor thread inherits the mask

    std::unique_ptr<Acceptor> acceptor;
    if (o.listen) acceptor = std::make_unique<Acceptor>(dst, limit - kSpareFds - o.connect);
    // Lets every farm process start listening before anyone connects, so SO_REUSEPORT spreads
    // the connections over all of them.
    std::this_thread::sleep_for(std::chrono::milliseconds(o.delay_ms));
    auto fds = connect_all(src, dst, o.connect);
    std::printf("connected %zu\n", fds.size());
    std::fflush(stdout);

    timespec hold{static_cast<time_t>(o.hold_s),
                  static_cast<long>((o.hold_s - static_cast<time_t>(o.hold_s)) * 1e9)};
    ::sigtimedwait(&set, nullptr, &hold);
    if (acceptor) std::printf("accepted %zu\n", acceptor->count());
    std::fflush(stdout);
    abort_on_close(fds);
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "zdd-bench-conn-farm: holds many established loopback connections for the scale\n"
        "benchmark (a SO_REUSEPORT listener share and/or client connections)."};
    app.footer("Exit codes: 0 ok, 2 usage, 3 connect failed, 4 socket setup failed.");
    Options o;
    app.add_option("-p,--port", o.port, "The port every connection goes to")
        ->required()
        ->check(CLI::Range(1, 65535));
    app.add_option("-c,--connect", o.connect, "Connections to open")
        ->check(CLI::Range(0, 20000))
        ->capture_default_str();
    app.add_option("-s,--source", o.source, "Source address (127.0.0.x)")->capture_default_str();
    app.add_option("-d,--dest", o.dest, "Destination address")->capture_default_str();
    app.add_flag("-l,--listen", o.listen, "Also listen on DEST:PORT (SO_REUSEPORT) and accept");
    app.add_option("--delay-ms", o.delay_ms, "Wait before connecting (others start listening)")
        ->check(CLI::Range(0, 60000))
        ->capture_default_str();
    app.add_option("--hold-s", o.hold_s, "Hold at most this long, then exit")
        ->check(CLI::Range(1.0, 3600.0))
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }
    try {
        return run(o);
    } catch (const ConnectError& e) {
        std::fprintf(stderr, "conn-farm: %s\n", e.what());
        return kExitConnect;
    } catch (const SetupError& e) {
        std::fprintf(stderr, "conn-farm: %s\n", e.what());
        return kExitSetup;
    }
}
