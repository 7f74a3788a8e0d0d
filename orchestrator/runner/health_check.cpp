#include "runner/health_check.hpp"

#include <curl/curl.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "gate/http_client.hpp"

namespace zdd {

namespace {

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;

std::string one_line(std::string s, size_t max = 200) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    if (s.size() > max) s = s.substr(0, max) + "...";
    return s;
}

}  // namespace

HealthProbe probe_health(const std::string& host, uint16_t port, const std::string& expect_version,
                         std::chrono::milliseconds request_timeout) {
    drainmon::http_global_init();
    HealthProbe r;
    CurlPtr c(curl_easy_init());
    if (!c) {
        r.reason = "curl_easy_init failed";
        return r;
    }
    const std::string url = drainmon::http_url(host, port, "/health");
    drainmon::HttpBody body;  // a health answer is small: 64 KiB at most
    char errbuf[CURL_ERROR_SIZE] = {};
    if (!drainmon::http_setup(c.get(), url, request_timeout, &body, errbuf)) {
        r.reason = "cannot set up the HTTP request";
        return r;
    }
    curl_easy_setopt(c.get(), CURLOPT_FORBID_REUSE, 1L);
    CURLcode rc = curl_easy_perform(c.get());
    if (rc != CURLE_OK) {
        r.reason = one_line(errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return r;
    }
    long code = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        r.reason = "HTTP " + std::to_string(code);
        return r;
    }
    nlohmann::json j = nlohmann::json::parse(body.text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        r.reason = "body is not a JSON object: " + one_line(body.text, 80);
        return r;
    }
    if (j.contains("version") && j["version"].is_string()) r.version = j["version"];
    if (!j.contains("status") || j["status"] != "ok") {
        r.reason = "status is not \"ok\": " + one_line(body.text, 80);
        return r;
    }
    if (!expect_version.empty() && r.version != expect_version) {
        r.reason =
            "version is \"" + one_line(r.version, 80) + "\", expected \"" + expect_version + "\"";
        return r;
    }
    r.ok = true;
    return r;
}

HealthResult wait_healthy(const HealthOptions& o) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto deadline = start + o.timeout;
    HealthResult res;
    std::string last = "no attempt made";
    for (;;) {
        if (o.still_running && !o.still_running()) {
            res.process_exited = true;
            res.last_failure = "the instance exited during the health check (last: " + last + ")";
            return res;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        auto per = std::min(o.request_timeout, std::max(left, std::chrono::milliseconds(1)));
        HealthProbe p = probe_health(o.host, o.port, o.expect_version, per);
        ++res.attempts;
        if (p.ok) {
            res.ok = true;
            res.version = p.version;
            return res;
        }
        last = p.reason;
        if (Clock::now() + o.interval >= deadline) break;
        std::this_thread::sleep_for(o.interval);
    }
    // One more look: an exit during the last attempt explains the failure better.
    if (o.still_running && !o.still_running()) {
        res.process_exited = true;
        res.last_failure = "the instance exited during the health check (last: " + last + ")";
        return res;
    }
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f",
                  std::chrono::duration<double>(Clock::now() - start).count());
    res.last_failure = "health check failed after " + std::string(secs) + "s (" +
                       std::to_string(res.attempts) + " attempts): " + last;
    return res;
}

}  // namespace zdd
