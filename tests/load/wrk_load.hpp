// wrk (Debian's) as a load generator through nginx: started in the background for an upper-bound
// duration, stopped with SIGINT (wrk then prints its summary), summary parsed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace zdd_load {

struct WrkSummary {
    long requests = -1;  // -1: no summary found
    long connect_errors = 0;
    long read_errors = 0;
    long write_errors = 0;
    long timeouts = 0;
    long non_2xx = 0;  // wrk's "Non-2xx or 3xx responses"
    long socket_errors() const { return connect_errors + read_errors + write_errors + timeouts; }
    long errors() const { return socket_errors() + non_2xx; }
};

// Parses wrk's text summary.
WrkSummary parse_wrk_summary(const std::string& text);

class WrkLoad {
  public:
    // wrk -t threads -c connections -d max_duration [-H header]... url; output to out_path.
    WrkLoad(const std::string& url, int threads, int connections, std::chrono::seconds max_duration,
            const std::vector<std::string>& headers, std::string out_path);
    bool running() { return proc_.running(); }
    // SIGINT, wait for the summary, parse it. Call once.
    WrkSummary stop();
    const std::string& output_path() const { return out_path_; }

  private:
    std::string out_path_;
    zdd_test::Subprocess proc_;
};

}  // namespace zdd_load
