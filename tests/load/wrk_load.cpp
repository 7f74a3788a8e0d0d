#include "wrk_load.hpp"

#include <signal.h>

#include <fstream>
#include <regex>

namespace zdd_load {

using namespace std::chrono_literals;

namespace {

std::vector<std::string> wrk_argv(const std::string& url, int threads, int connections,
                                  std::chrono::seconds d, const std::vector<std::string>& headers) {
    std::vector<std::string> argv{"wrk",
                                  "-t" + std::to_string(threads),
                                  "-c" + std::to_string(connections),
                                  "-d" + std::to_string(d.count()) + "s",
                                  "--timeout",
                                  "10s"};
    for (const auto& h : headers) {
        argv.push_back("-H");
        argv.push_back(h);
    }
    argv.push_back(url);
    return argv;
}

}  // namespace

WrkSummary parse_wrk_summary(const std::string& text) {
    WrkSummary s;
    std::smatch m;
    if (std::regex_search(text, m, std::regex(R"((\d+) requests in )")))
        s.requests = std::stol(m[1]);
    if (std::regex_search(text, m,
                          std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), )"
                                     R"(timeout (\d+))"))) {
        s.connect_errors = std::stol(m[1]);
        s.read_errors = std::stol(m[2]);
        s.write_errors = std::stol(m[3]);
        s.timeouts = std::stol(m[4]);
    }
    if (std::regex_search(text, m, std::regex(R"(Non-2xx or 3xx responses: (\d+))")))
        s.non_2xx = std::stol(m[1]);
    return s;
}

WrkLoad::WrkLoad(const std::string& url, int threads, int connections,
                 std::chrono::seconds max_duration, const std::vector<std::string>& headers,
                 std::string out_path)
    : out_path_(std::move(out_path)),
      proc_(wrk_argv(url, threads, connections, max_duration, headers), {}, out_path_,
            out_path_ + ".err") {}

WrkSummary WrkLoad::stop() {
    proc_.signal(SIGINT);  // wrk stops its threads and prints the summary so far
    proc_.wait(20s);
    std::ifstream f(out_path_);
    return parse_wrk_summary(std::string(std::istreambuf_iterator<char>(f), {}));
}

}  // namespace zdd_load
