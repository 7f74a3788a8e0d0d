// zdd-demo-sse-load: opens N concurrent /stream/test streams with libcurl multi and checks that
// every one completes with every event and `done`. Scale tests run several of these, so no
// single process holds more sockets than its open-file limit allows.
// Prints one JSON summary line; exit 0 when every stream completed, 1 otherwise, 2 bad usage.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "sse_check.hpp"

namespace {

struct Stream {
    CURL* easy = nullptr;
    std::string body;
    std::string problem;
};

size_t on_data(char* data, size_t size, size_t n, void* user) {
    static_cast<Stream*>(user)->body.append(data, size * n);
    return size * n;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"zdd-demo-sse-load: N concurrent SSE streams, each checked for every event"};
    std::string url;
    int streams = 100;
    long expect_total = -1;
    long timeout_s = 120;
    cli.add_option("--url", url, "the /stream/test URL")->required();
    cli.add_option("--streams", streams, "concurrent streams")->check(CLI::Range(1, 5000));
    cli.add_option("--expect-total", expect_total, "events each stream must carry");
    cli.add_option("--timeout", timeout_s, "seconds before every stream is abandoned")
        ->check(CLI::Range(1, 3600));
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? 0 : 2;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM* multi = curl_multi_init();
    std::vector<Stream> all(static_cast<size_t>(streams));
    for (auto& s : all) {
        s.easy = curl_easy_init();
        curl_easy_setopt(s.easy, CURLOPT_URL, url.c_str());
        curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, &on_data);
        curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
        curl_easy_setopt(s.easy, CURLOPT_TIMEOUT, timeout_s);
        curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
        curl_multi_add_handle(multi, s.easy);
    }

    int running = 0;
    do {
        curl_multi_perform(multi, &running);
        int queued = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
            if (msg->msg != CURLMSG_DONE) continue;
            Stream* s = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
            long status = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (msg->data.result != CURLE_OK)
                s->problem = curl_easy_strerror(msg->data.result);
            else if (status != 200)
                s->problem = "HTTP " + std::to_string(status);
        }
        if (running) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    } while (running);

    int complete = 0;
    nlohmann::json problems = nlohmann::json::array();
    for (auto& s : all) {
        if (s.problem.empty())
            s.problem =
                zdd_demo_test::check_sse(zdd_demo_test::parse_sse(s.body), "done", expect_total);
        if (s.problem.empty())
            ++complete;
        else if (problems.size() < 5)
            problems.push_back(s.problem);
        curl_multi_remove_handle(multi, s.easy);
        curl_easy_cleanup(s.easy);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    std::printf("%s\n",
                nlohmann::json{{"streams", streams}, {"complete", complete}, {"problems", problems}}
                    .dump()
                    .c_str());
    return complete == streams ? 0 : 1;
}
