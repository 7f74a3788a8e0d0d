// zdd-demo-sse-resume: N concurrent resuming SSE clients, each one behaving like a browser's
// EventSource: when its stream ends without `event: done` (handed over, cut, refused) it waits
// the stream's `retry:` time and reconnects with `Last-Event-ID` set to the last id it got.
// Each client checks that ids 1..last arrived exactly once and in order, then `done`.
//
// Usage (for e2e tests and scripts/bench):
//   zdd-demo-sse-resume --url URL --clients N --deadline-s S
//                       [--expect-total T] [--default-retry-ms 1000] [--fail-on-cut]
//                       [--max-reconnects 1000] [--ready-file PATH]
//   URL is a /stream/test URL (through nginx or straight to an app). T: the last id (`done`'s
//   total when not given). --fail-on-cut: a stream that ended without `done` or
//   `event: handoff` (reset, cancelled, truncated) also fails the run. --ready-file: written
//   once every client has received its first event, so a test knows all streams are open.
// Output: one JSON line on stdout:
//   {"clients":N,"complete":N,"duplicates":0,"gaps":0,"reconnects":R,"handoffs":H,"cuts":C,
//    "http_errors":0,"events":E,"max_reconnect_gap_ms":G,"problems":[up to 5 strings]}
//   max_reconnect_gap_ms: longest time from a stream's end to the next event on its successor.
// Exit: 0 every client complete, no duplicate, no gap (and no cut with --fail-on-cut);
//   1 otherwise (also when the deadline passes first); 2 bad usage.
// As EventSource does, an answer other than 200 text/event-stream is not retried: that client
// fails ("http_errors"), since a zero-downtime deploy must never show one.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "sse_reader.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Options {
    std::string url;
    int clients = 1;
    long deadline_s = 120;
    long expect_total = -1;
    long default_retry_ms = 1000;
    long max_reconnects = 1000;
    bool fail_on_cut = false;
    std::string ready_file;
};

// Counts clients that have their first event; writes the ready file when all have.
class Readiness {
  public:
    Readiness(int clients, std::string path) : left_(clients), path_(std::move(path)) {}
    void one_ready() {
        if (--left_ != 0 || path_.empty()) return;
        std::ofstream(path_) << "ready\n";
    }

  private:
    std::atomic<int> left_;
    std::string path_;
};

class Client {
  public:
    Client(const Options& o, Readiness& ready, Clock::time_point deadline)
        : o_(o),
          ready_(ready),
          deadline_(deadline),
          reader_([this](const zdd_demo_test::SseEvent& e) { on_event(e); }) {}

    void run();

    struct Tally {
        long duplicates = 0;
        long gaps = 0;
        long reconnects = 0;
        long handoffs = 0;
        long cuts = 0;
        long http_errors = 0;
        long events = 0;
        long max_gap_ms = 0;
    };
    const Tally& tally() const { return tally_; }
    const std::string& problem() const { return problem_; }
    bool complete() const { return done_ && problem_.empty(); }

  private:
    static size_t on_data(char* data, size_t size, size_t n, void* self);
    void on_event(const zdd_demo_test::SseEvent& e);
    // One connection; returns false when the client must not reconnect.
    bool connect_once(CURL* curl);
    void fail(const std::string& why) {
        if (problem_.empty()) problem_ = why;
    }

    const Options& o_;
    Readiness& ready_;
    Tally tally_;
    std::string problem_;
    const Clock::time_point deadline_;
    zdd_demo_test::SseReader reader_;
    long last_id_ = 0;
    long total_ = -1;
    bool done_ = false;
    bool saw_first_ = false;
    std::string last_event_;  // the name of the last event on this connection
    std::optional<Clock::time_point> gap_since_;
};

size_t Client::on_data(char* data, size_t size, size_t n, void* self) {
    static_cast<Client*>(self)->reader_.feed(std::string_view(data, size * n));
    return size * n;
}

void Client::on_event(const zdd_demo_test::SseEvent& e) {
    if (gap_since_) {
        const long ms =
            std::chrono::duration_cast<milliseconds>(Clock::now() - *gap_since_).count();
        tally_.max_gap_ms = std::max(tally_.max_gap_ms, ms);
        gap_since_.reset();
    }
    if (!saw_first_) {
        saw_first_ = true;
        ready_.one_ready();
    }
    if (done_) return fail("event after done");
    last_event_ = e.event;
    if (!e.event.empty()) {
        if (e.event == "handoff") ++tally_.handoffs;
        if (e.event != "done") return;
        done_ = true;
        auto data = nlohmann::json::parse(e.data, nullptr, false);
        const long said = data.is_object() ? data.value("total", -1L) : -1L;
        const long want = o_.expect_total >= 0 ? o_.expect_total : said;
        if (want < 0) return fail("done without a total and no --expect-total");
        if (said >= 0 && said != want)
            fail("done says total " + std::to_string(said) + ", expected " + std::to_string(want));
        if (last_id_ != want)
            fail("done after id " + std::to_string(last_id_) + ", expected " +
                 std::to_string(want));
        total_ = want;
        return;
    }
    ++tally_.events;
    long id = -1;
    try {
        size_t used = 0;
        id = std::stol(e.id, &used);
        if (used != e.id.size()) id = -1;
    } catch (const std::exception&) {
    }
    if (id < 1) return fail("event without a numeric id: '" + e.id + "'");
    if (id <= last_id_) {
        ++tally_.duplicates;
        return fail("id " + std::to_string(id) + " again after " + std::to_string(last_id_));
    }
    if (id > last_id_ + 1) {
        ++tally_.gaps;
        fail("id " + std::to_string(id) + " after " + std::to_string(last_id_));
    }
    last_id_ = id;
}

bool Client::connect_once(CURL* curl) {
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: text/event-stream");
    headers = curl_slist_append(headers, "Cache-Control: no-cache");
    const std::string resume = "Last-Event-ID: " + reader_.last_event_id();
    if (!reader_.last_event_id().empty()) headers = curl_slist_append(headers, resume.c_str());
    const long left = std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now()).count();
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, std::max(1L, left));
    last_event_ = "(none)";
    const CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    reader_.reset_connection();
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (rc == CURLE_OPERATION_TIMEDOUT && Clock::now() >= deadline_) {
        fail("deadline passed at id " + std::to_string(last_id_));
        return false;
    }
    if (status != 0 &&
        (status != 200 || !type || std::string_view(type).rfind("text/event-stream", 0) != 0)) {
        ++tally_.http_errors;
        fail("HTTP " + std::to_string(status) + " " + (type ? type : "") + " after id " +
             std::to_string(last_id_));
        return false;
    }
    if (done_) return false;
    // Handed over: the server said goodbye at a boundary. Anything else is a cut.
    if (last_event_ != "handoff") {
        ++tally_.cuts;
        if (o_.fail_on_cut)
            fail("stream cut after id " + std::to_string(last_id_) + ": " +
                 (rc != CURLE_OK ? std::string(curl_easy_strerror(rc))
                                 : "ended after event '" + last_event_ + "'"));
    }
    return true;
}

void Client::run() {
    CURL* curl = curl_easy_init();
    if (!curl) return fail("curl_easy_init failed");
    curl_easy_setopt(curl, CURLOPT_URL, o_.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Client::on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    // A fresh connection each time, as a browser's EventSource reconnect does after a close.
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    for (long attempt = 0;; ++attempt) {
        if (!connect_once(curl)) break;
        gap_since_ = Clock::now();
        if (attempt >= o_.max_reconnects) {
            fail("gave up after " + std::to_string(attempt) + " reconnects");
            break;
        }
        const auto wait = milliseconds(reader_.retry_ms().value_or(o_.default_retry_ms));
        if (Clock::now() + wait >= deadline_) {
            fail("deadline passed at id " + std::to_string(last_id_));
            break;
        }
        std::this_thread::sleep_for(wait);
        ++tally_.reconnects;
    }
    curl_easy_cleanup(curl);
    if (!done_) fail("no done; last id " + std::to_string(last_id_));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"zdd-demo-sse-resume: N resuming SSE clients (EventSource-like), each checked"};
    Options o;
    cli.add_option("--url", o.url, "the /stream/test URL")->required();
    cli.add_option("--clients", o.clients, "concurrent clients")->check(CLI::Range(1, 2000));
    cli.add_option("--deadline-s", o.deadline_s, "seconds after which every client gives up")
        ->check(CLI::Range(1L, 86400L));
    cli.add_option("--expect-total", o.expect_total, "the last id each stream must reach");
    cli.add_option("--default-retry-ms", o.default_retry_ms,
                   "reconnect delay until a stream sends retry:")
        ->check(CLI::Range(0L, 600000L));
    cli.add_option("--max-reconnects", o.max_reconnects, "reconnects per client at most")
        ->check(CLI::Range(0L, 1000000L));
    cli.add_flag("--fail-on-cut", o.fail_on_cut,
                 "a stream ended without done or handoff fails the run");
    cli.add_option("--ready-file", o.ready_file, "written once every client has its first event");
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? 0 : 2;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    const auto deadline = Clock::now() + std::chrono::seconds(o.deadline_s);
    Readiness ready(o.clients, o.ready_file);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < o.clients; ++i)
        clients.push_back(std::make_unique<Client>(o, ready, deadline));
    std::vector<std::thread> threads;
    for (auto& c : clients) threads.emplace_back([&c] { c->run(); });
    for (auto& t : threads) t.join();
    curl_global_cleanup();

    long complete = 0;
    Client::Tally all;
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& c : clients) {
        const auto& t = c->tally();
        complete += c->complete();
        all.duplicates += t.duplicates;
        all.gaps += t.gaps;
        all.reconnects += t.reconnects;
        all.handoffs += t.handoffs;
        all.cuts += t.cuts;
        all.http_errors += t.http_errors;
        all.events += t.events;
        all.max_gap_ms = std::max(all.max_gap_ms, t.max_gap_ms);
        if (!c->problem().empty() && problems.size() < 5) problems.push_back(c->problem());
    }
    const nlohmann::json sum = {{"clients", o.clients},
                                {"complete", complete},
                                {"duplicates", all.duplicates},
                                {"gaps", all.gaps},
                                {"reconnects", all.reconnects},
                                {"handoffs", all.handoffs},
                                {"cuts", all.cuts},
                                {"http_errors", all.http_errors},
                                {"events", all.events},
                                {"max_reconnect_gap_ms", all.max_gap_ms},
                                {"problems", problems}};
    std::printf("%s\n", sum.dump().c_str());
    // complete() already excludes duplicates, gaps and HTTP errors; cuts fail only on request.
    const bool ok = complete == o.clients && (!o.fail_on_cut || all.cuts == 0);
    return ok ? 0 : 1;
}
