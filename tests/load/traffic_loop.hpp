// A bounded loop of real `curl` requests (one connection each) through nginx, on its own
// thread, while a test deploys or injects a fault: every request must get a 200.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zdd_load {

struct TrafficResult {
    long requests = 0;
    long failures = 0;                     // curl error, timeout or a status other than 200
    std::vector<std::string> samples;      // the first few failures, described
    std::map<std::string, long> versions;  // "version" of each /health answer -> count
};

class TrafficLoop {
  public:
    // GET url (a /health URL) until stop(), at most max_requests times or for max_duration.
    explicit TrafficLoop(std::string url,
                         std::chrono::seconds max_duration = std::chrono::seconds(180),
                         long max_requests = 20000);
    ~TrafficLoop();
    TrafficLoop(const TrafficLoop&) = delete;
    TrafficLoop& operator=(const TrafficLoop&) = delete;

    // Waits until at least n more requests were answered (bounded), so a test knows the loop
    // overlaps what it does next.
    bool wait_requests(long n, std::chrono::milliseconds bound = std::chrono::seconds(10));
    TrafficResult stop();  // stops, joins, returns the tally (idempotent)

  private:
    void run(std::chrono::seconds max_duration, long max_requests);

    const std::string url_;
    std::atomic<bool> stop_{false};
    std::atomic<long> done_{0};
    std::mutex mu_;
    TrafficResult result_;
    std::thread thread_;
};

// One line for a failed check: "N requests, F failures: sample; sample".
std::string describe(const TrafficResult& r);

}  // namespace zdd_load
