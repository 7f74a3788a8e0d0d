// Connections beyond --max-connections: instead of a 503 before the request is even read, one
// thread holds them (epoll, no thread each) for a short while, reads the request head, and lets
// the health endpoints answer, so `/health` and the drain gate's `/health/deployment` keep
// working while the app is flooded. Everything else gets the 503 "at capacity" answer.
// When full, the oldest held connection is answered 503 to make room for the newest.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"

namespace zdd_demo {

// A request head as the lane saw it: "GET", "/health/deployment?x=1", the Authorization value.
struct RequestHead {
    std::string method;
    std::string target;
    std::string authorization;
};

class OverflowLane {
  public:
    // The full raw HTTP answer (with Connection: close) for a head; empty: the 503 answer.
    // Runs on the lane's thread.
    using Answer = std::function<std::string(const RequestHead&)>;

    OverflowLane(Answer answer, size_t max_held, std::chrono::milliseconds head_timeout);
    ~OverflowLane();  // stops the thread; held connections are answered 503 and closed
    OverflowLane(const OverflowLane&) = delete;
    OverflowLane& operator=(const OverflowLane&) = delete;

    // Takes the connection over; never blocks (called on the accepting thread).
    void add(int fd);
    // Connections answered 503 (not a health endpoint, no head in time, evicted).
    size_t refused() const { return refused_.load(); }
    size_t answered() const { return answered_.load(); }

    static const std::string& busy_answer();  // 503, Retry-After: 1, Connection: close
    // Parses the head (request line and headers up to the blank line); false when malformed.
    static bool parse_head(const std::string& head, RequestHead& out);

  private:
    struct Held;
    void run();
    void finish(Held& c, const std::string* answer);  // nullptr: the 503

    Answer answer_;
    const size_t max_held_;
    const std::chrono::milliseconds head_timeout_;
    drainmon::UniqueFd epoll_;
    drainmon::UniqueFd wake_;  // eventfd: new connections queued, or stop
    std::mutex mu_;
    std::vector<int> incoming_;
    bool stop_ = false;
    std::atomic<size_t> refused_{0};
    std::atomic<size_t> answered_{0};
    std::thread thread_;
};

}  // namespace zdd_demo
