// One small-stack thread per connection, up to a fixed capacity, never a queue: httplib's own
// pool has 8 threads and queues every further connection in silence, which a stream server
// with thousands of hours-long streams cannot afford.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>

#include <httplib.h>

namespace zdd_demo {

class ConnectionPool final : public httplib::TaskQueue {
  public:
    // Stack per connection thread: httplib needs a few KiB; this leaves room for its
    // std::regex header parsing. Only touched pages cost memory.
    static constexpr size_t kDefaultStackBytes = 512 * 1024;

    explicit ConnectionPool(size_t max_connections, size_t stack_bytes = kDefaultStackBytes);
    ~ConnectionPool() override;
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    // Runs fn on a new thread; at capacity (or when no thread can be made) runs it right here
    // with refusing() true, and the connection goes to the overflow lane (health endpoints
    // only, 503 for the rest).
    void enqueue(std::function<void()> fn) override;
    // Returns once every connection thread has finished.
    void shutdown() override;

    size_t active() const;
    static bool refusing();

  private:
    // Shared with each thread, so a thread's last touch of it is safe even as the pool goes.
    struct Shared {
        std::mutex mu;
        std::condition_variable cv;
        size_t active = 0;
    };
    struct Job {
        std::function<void()> fn;
        std::shared_ptr<Shared> shared;
    };
    static void* run(void* arg);
    static void finished(Shared& shared);

    const size_t max_;
    const size_t stack_bytes_;
    std::shared_ptr<Shared> shared_;
};

}  // namespace zdd_demo
