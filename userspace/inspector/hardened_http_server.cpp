#include "inspector/hardened_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace drainmon::inspector {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMaxBody = 64 * 1024;  // scrapes are GETs; a body is refused (413)
// cpp-httplib bounds each header line, not their number: 60 MB of short header lines grew the
// process by 150 MB. A scrape's request is a few hundred bytes.
constexpr std::size_t kMaxRequestBytes = 64 * 1024;

// The connection a worker thread serves, so the pre-routing handler can mark it read.
thread_local bool* tl_reading = nullptr;

bool wait_for(int sock, short events, milliseconds timeout) {
    pollfd p{sock, events, 0};
    for (;;) {
        const int n = ::poll(&p, 1, static_cast<int>(std::max(timeout.count(), int64_t{0})));
        if (n >= 0) return n > 0;
        if (errno != EINTR) return false;
    }
}

std::string ip_and_port(const sockaddr_storage& a, int& port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
        ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        port = ntohs(in->sin_port);
    } else if (a.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        port = ntohs(in6->sin6_port);
    }
    return text;
}

// cpp-httplib's socket stream with one change: reads end at the request deadline, not only
// after a quiet read timeout.
class DeadlineStream final : public httplib::Stream {
  public:
    DeadlineStream(int sock, Clock::time_point deadline) : sock_(sock), deadline_(deadline) {}

    bool is_readable() const override {
        return pos_ < len_ || wait_for(sock_, POLLIN, read_wait());
    }
    bool is_writable() const override {
        return wait_for(sock_, POLLOUT, HardenedHttpServer::kIoTimeout);
    }
    ssize_t read(char* ptr, size_t size) override {
        if (pos_ == len_) {
            if (total_ >= kMaxRequestBytes || !is_readable()) return -1;
            ssize_t n;
            do n = ::recv(sock_, buf_, std::min(sizeof buf_, kMaxRequestBytes - total_), 0);
            while (n < 0 && errno == EINTR);
            if (n <= 0) return n;
            pos_ = 0;
            len_ = static_cast<size_t>(n);
            total_ += len_;
        }
        const size_t n = std::min(size, len_ - pos_);
        std::copy_n(buf_ + pos_, n, ptr);
        pos_ += n;
        return static_cast<ssize_t>(n);
    }
    ssize_t write(const char* ptr, size_t size) override {
        if (!is_writable()) return -1;
        return ::send(sock_, ptr, size, MSG_NOSIGNAL);
    }
    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage a{};
        socklen_t len = sizeof a;
        if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
            ip = ip_and_port(a, port);
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage a{};
        socklen_t len = sizeof a;
        if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
            ip = ip_and_port(a, port);
    }
    socket_t socket() const override { return sock_; }

  private:
    milliseconds read_wait() const {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now());
        return std::min<milliseconds>(left, HardenedHttpServer::kIoTimeout);
    }

    int sock_;
    Clock::time_point deadline_;
    char buf_[4096];
    size_t pos_ = 0;
    size_t len_ = 0;
    size_t total_ = 0;  // bytes read from the connection
};

// cpp-httplib's default sets SO_REUSEPORT, which let a second serve bind the same address and
// take half the scrapes. SO_REUSEADDR only (restart over TIME_WAIT): a second bind fails.
void exclusive_bind_options(socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

}  // namespace

// cpp-httplib's pool, told of each connection as the accept loop queues it.
class HardenedHttpServer::Queue final : public httplib::TaskQueue {
  public:
    explicit Queue(HardenedHttpServer& s) : server_(s), pool_(kWorkers) {}
    void enqueue(std::function<void()> fn) override {
        server_.on_accepted();
        pool_.enqueue(std::move(fn));
    }
    void shutdown() override { pool_.shutdown(); }

  private:
    HardenedHttpServer& server_;
    httplib::ThreadPool pool_;
};

HardenedHttpServer::HardenedHttpServer() {
    new_task_queue = [this] { return new Queue(*this); };
    set_socket_options(exclusive_bind_options);
    set_write_timeout(kIoTimeout.count(), 0);
    set_payload_max_length(kMaxBody);
    set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        {
            std::lock_guard lock(mu_);
            if (tl_reading) *tl_reading = false;  // read: from now on it is served, never cut
        }
        const std::string len = req.get_header_value("Content-Length");
        if (req.has_header("Transfer-Encoding") || (!len.empty() && len != "0")) {
            res.status = 413;
            res.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
}

void HardenedHttpServer::on_accepted() {
    std::lock_guard lock(mu_);
    if (pending_ >= kWorkers) {
        // Every worker is taken (or about to be): the connection that has been sending its
        // request the longest makes room. Its worker sees the shutdown at once and frees.
        for (auto& c : connections_) {
            if (c.reading && !c.cut) {
                ::shutdown(c.sock, SHUT_RDWR);
                c.cut = true;
                break;
            }
        }
    }
    ++pending_;
}

bool HardenedHttpServer::process_and_close_socket(socket_t sock) {
    std::list<Connection>::iterator me;
    {
        std::lock_guard lock(mu_);
        me = connections_.insert(connections_.end(), Connection{sock});
        tl_reading = &me->reading;
    }
    bool ok = false;
    // One request per connection: cpp-httplib reads what follows a GET as the next request
    // line, without a bound, so a GET with a 60 MB body grew the process by 60 MB. Closing
    // after the answer drops whatever the client still sends; Prometheus reconnects anyway.
    DeadlineStream strm(sock, Clock::now() + kRequestDeadline);
    if (strm.is_readable()) {
        bool closed = false;
        ok = process_request(strm, true, closed, nullptr);
    }
    {
        std::lock_guard lock(mu_);
        tl_reading = nullptr;
        connections_.erase(me);
        --pending_;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
}

}  // namespace drainmon::inspector
