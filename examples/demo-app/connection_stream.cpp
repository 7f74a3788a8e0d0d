#include "connection_stream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace zdd_demo {

namespace {

void ip_and_port(const sockaddr_storage& ss, std::string& ip, int& port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
        port = ntohs(a->sin6_port);
    } else {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
        port = ntohs(a->sin_port);
    }
    ip = text;
}

}  // namespace

ConnectionStream::ConnectionStream(int fd, std::chrono::milliseconds read_timeout,
                                   std::chrono::milliseconds write_timeout)
    : fd_(fd), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

short ConnectionStream::wait_for(short events, std::chrono::milliseconds timeout) const {
    pollfd p{fd_, events, 0};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        int r = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
        if (r > 0) return p.revents;
        if (r == 0 || errno != EINTR) return 0;
    }
}

bool ConnectionStream::is_readable() const {
    return buf_off_ < buf_len_ || (wait_for(POLLIN, read_timeout_) & (POLLIN | POLLHUP)) != 0;
}

bool ConnectionStream::is_writable() const {
    const short r = wait_for(POLLOUT | POLLRDHUP, write_timeout_);
    return (r & POLLOUT) && !(r & (POLLRDHUP | POLLHUP | POLLERR));
}

bool ConnectionStream::range_guard(const char* data, size_t n) {
    static constexpr char kName[] = "range:";
    constexpr size_t kNameLen = sizeof kName - 1;
    for (size_t i = 0; i < n; ++i) {
        const char c = data[i];
        if (c == '\n') {
            line_len_ = 0;
            line_is_range_ = false;
            continue;
        }
        if (line_len_ < kNameLen)
            line_is_range_ = (line_len_ == 0 || line_is_range_) &&
                             std::tolower(static_cast<unsigned char>(c)) == kName[line_len_];
        ++line_len_;
        if (line_is_range_ && line_len_ > kMaxRangeLine) return false;
    }
    return true;
}

ssize_t ConnectionStream::read(char* ptr, size_t size) {
    if (refused_) return -1;
    if (buf_off_ == buf_len_) {
        if (!is_readable()) return -1;
        ssize_t n;
        do {
            n = ::recv(fd_, buf_.data(), buf_.size(), 0);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return n;
        buf_off_ = 0;
        buf_len_ = static_cast<size_t>(n);
        if (!range_guard(buf_.data(), buf_len_)) {
            refused_ = true;
            return -1;
        }
    }
    const size_t n = std::min(size, buf_len_ - buf_off_);
    std::memcpy(ptr, buf_.data() + buf_off_, n);
    buf_off_ += n;
    return static_cast<ssize_t>(n);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
    const short r = wait_for(POLLOUT, write_timeout_);
    if (!(r & POLLOUT) || (r & (POLLHUP | POLLERR))) return -1;
    ssize_t n;
    do {
        // MSG_NOSIGNAL: a vanished client is a failed write, never a SIGPIPE.
        n = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;  // caller loops
    return n;
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) ip_and_port(ss, ip, port);
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) ip_and_port(ss, ip, port);
}

}  // namespace zdd_demo
