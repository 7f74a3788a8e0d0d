#include "overflow_lane.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace zdd_demo {

namespace {

constexpr size_t kMaxHead = 8192;  // a health request's head is a few hundred bytes

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

struct OverflowLane::Held {
    drainmon::UniqueFd fd;
    uint64_t id = 0;
    std::chrono::steady_clock::time_point deadline;
    std::string head;
};

const std::string& OverflowLane::busy_answer() {
    static const std::string body = "at capacity\n";
    static const std::string answer =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
    return answer;
}

bool OverflowLane::parse_head(const std::string& head, RequestHead& out) {
    auto eol = head.find("\r\n");
    if (eol == std::string::npos) return false;
    const std::string line = head.substr(0, eol);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) return false;
    out.method = line.substr(0, sp1);
    out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    out.authorization.clear();
    for (size_t pos = eol + 2; pos < head.size();) {
        auto end = head.find("\r\n", pos);
        if (end == std::string::npos) end = head.size();
        const std::string field = head.substr(pos, end - pos);
        auto colon = field.find(':');
        if (colon != std::string::npos && lower(field.substr(0, colon)) == "authorization") {
            auto v = field.find_first_not_of(" \t", colon + 1);
            out.authorization = v == std::string::npos ? "" : field.substr(v);
        }
        pos = end + 2;
    }
    return true;
}

OverflowLane::OverflowLane(Answer answer, size_t max_held, std::chrono::milliseconds head_timeout)
    : answer_(std::move(answer)),
      max_held_(std::max<size_t>(1, max_held)),
      head_timeout_(head_timeout) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!epoll_ || !wake_)
        throw std::runtime_error(std::string("overflow lane: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;  // 0: the eventfd; connections carry their id (>= 1)
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0)
        throw std::runtime_error(std::string("overflow lane: ") + std::strerror(errno));
    // The thread starts with every signal blocked: signals belong to the app's signalfd, and
    // a thread without them blocked would take SIGTERM's default action (exit).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    thread_ = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

OverflowLane::~OverflowLane() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    thread_.join();
    for (int fd : incoming_) ::close(fd);
}

void OverflowLane::add(int fd) {
    {
        std::lock_guard lock(mu_);
        incoming_.push_back(fd);
    }
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
}

void OverflowLane::finish(Held& c, const std::string* answer) {
    const bool busy = answer == nullptr;
    if (busy) answer = &busy_answer();
    ++(busy ? refused_ : answered_);
    const size_t n = refused_.load();
    if (busy && (n == 1 || n % 100 == 0))
        spdlog::warn("at capacity: answered connection #{} with 503", n);
    // Never blocks: a health answer fits in the socket buffer.
    (void)!::send(c.fd.get(), answer->data(), answer->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(c.fd.get(), SHUT_WR);
    // Consume what the client sent, so the close does not become a reset that could destroy
    // our answer before the client reads it.
    char buf[4096];
    while (::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    c.fd.reset();
}

void OverflowLane::run() {
    using Clock = std::chrono::steady_clock;
    std::map<uint64_t, Held> held;
    std::deque<uint64_t> order;  // ids by arrival: the same timeout for all, so also by deadline
    uint64_t next_id = 1;
    std::vector<epoll_event> events(64);
    // Answers (nullptr: the 503) and closes a held connection; `quiet`: just closes it.
    auto drop = [&](uint64_t id, const std::string* answer, bool quiet = false) {
        auto it = held.find(id);
        if (it == held.end()) return;
        if (!quiet) finish(it->second, answer);
        held.erase(it);  // closing the fd also takes it out of the epoll set
    };
    for (;;) {
        auto now = Clock::now();
        while (!order.empty() &&
               (!held.count(order.front()) || held.at(order.front()).deadline <= now)) {
            drop(order.front(), nullptr);
            order.pop_front();
        }
        int timeout = -1;
        if (!order.empty())
            timeout = static_cast<int>(
                std::chrono::ceil<std::chrono::milliseconds>(held.at(order.front()).deadline - now)
                    .count());
        int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout);
        if (n < 0 && errno != EINTR) {
            spdlog::error("overflow lane: epoll_wait: {}", std::strerror(errno));
            return;
        }
        for (int i = 0; i < n; ++i) {
            const uint64_t id = events[i].data.u64;
            if (id == 0) {
                uint64_t v;
                (void)!::read(wake_.get(), &v, sizeof v);
                std::vector<int> fresh;
                {
                    std::lock_guard lock(mu_);
                    if (stop_) {
                        for (auto& [hid, c] : held) finish(c, nullptr);
                        return;
                    }
                    fresh.swap(incoming_);
                }
                for (int fd : fresh) {
                    while (held.size() >= max_held_ && !order.empty()) {
                        drop(order.front(), nullptr);  // the oldest makes room
                        order.pop_front();
                    }
                    Held c;
                    c.fd.reset(fd);
                    c.id = next_id++;
                    c.deadline = Clock::now() + head_timeout_;
                    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
                    epoll_event ev{};
                    ev.events = EPOLLIN | EPOLLRDHUP;
                    ev.data.u64 = c.id;
                    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
                        finish(c, nullptr);
                        continue;
                    }
                    order.push_back(c.id);
                    held.emplace(c.id, std::move(c));
                }
                continue;
            }
            auto it = held.find(id);
            if (it == held.end()) continue;
            Held& c = it->second;
            char buf[2048];
            ssize_t got;
            while ((got = ::recv(c.fd.get(), buf, sizeof buf, 0)) > 0) {
                c.head.append(buf, static_cast<size_t>(got));
                if (c.head.size() > kMaxHead || c.head.find("\r\n\r\n") != std::string::npos) break;
            }
            auto end = c.head.find("\r\n\r\n");
            if (end != std::string::npos) {
                RequestHead head;
                std::string answer;
                if (parse_head(c.head.substr(0, end + 2), head)) answer = answer_(head);
                drop(id, answer.empty() ? nullptr : &answer);
            } else if (got == 0 || c.head.size() > kMaxHead ||
                       (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                drop(id, nullptr, got == 0);  // the client left: just close
            }
        }
    }
}

}  // namespace zdd_demo
