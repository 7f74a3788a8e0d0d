#include "traffic_loop.hpp"

#include <nlohmann/json.hpp>

#include "runner/command.hpp"

namespace zdd_load {

using namespace std::chrono_literals;

TrafficLoop::TrafficLoop(std::string url, std::chrono::seconds max_duration, long max_requests)
    : url_(std::move(url)) {
    thread_ = std::thread([this, max_duration, max_requests] { run(max_duration, max_requests); });
}

TrafficLoop::~TrafficLoop() {
    stop();
}

void TrafficLoop::run(std::chrono::seconds max_duration, long max_requests) {
    const auto deadline = std::chrono::steady_clock::now() + max_duration;
    for (long i = 0; i < max_requests && !stop_ && std::chrono::steady_clock::now() < deadline;
         ++i) {
        // -w appends the status after the body: "{...}\n200".
        auto r = zdd::run_command(
            {"curl", "-s", "--noproxy", "*", "--max-time", "5", "-w", "\n%{http_code}", url_}, 10s);
        std::string problem, version;
        const auto nl = r.out.rfind('\n');
        const std::string code = nl == std::string::npos ? "" : r.out.substr(nl + 1);
        if (!r.ok()) {
            problem = "curl exit " + std::to_string(r.status) + (r.timed_out ? " (timed out)" : "");
        } else if (code != "200") {
            problem = "HTTP " + code + ": " + r.out.substr(0, std::min<size_t>(nl, 120));
        } else {
            auto j = nlohmann::json::parse(r.out.substr(0, nl), nullptr, false);
            if (j.is_object()) version = j.value("version", "");
        }
        {
            std::lock_guard lock(mu_);
            ++result_.requests;
            if (!problem.empty()) {
                ++result_.failures;
                if (result_.samples.size() < 5) result_.samples.push_back(problem);
            } else {
                ++result_.versions[version];
            }
        }
        ++done_;
        std::this_thread::sleep_for(10ms);  // leaves the 2 cores to nginx, the apps and zdd
    }
}

bool TrafficLoop::wait_requests(long n, std::chrono::milliseconds bound) {
    const long target = done_ + n;
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (done_ < target) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

TrafficResult TrafficLoop::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    return result_;
}

std::string describe(const TrafficResult& r) {
    std::string s =
        std::to_string(r.requests) + " requests, " + std::to_string(r.failures) + " failures";
    for (size_t i = 0; i < r.samples.size(); ++i) s += (i ? "; " : ": ") + r.samples[i];
    return s;
}

}  // namespace zdd_load
