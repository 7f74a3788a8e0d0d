#include "gate/handoff.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "gate/app_report.hpp"
#include "gate/http_client.hpp"

namespace drainmon {

namespace {

struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string handoff_url_for(const std::string& health_url) {
    const auto q = health_url.find_first_of("?#");
    std::string path = health_url.substr(0, q);
    while (!path.empty() && path.back() == '/') path.pop_back();
    return path + "/handoff" + (q == std::string::npos ? "" : health_url.substr(q));
}

HandoffResult request_handoff(const std::string& url, const std::string& token,
                              std::chrono::milliseconds timeout) {
    http_global_init();
    HandoffResult r;
    std::unique_ptr<void, CurlHandleDeleter> curl(curl_easy_init());
    CURL* c = static_cast<CURL*>(curl.get());
    HttpBody body;
    std::unique_ptr<curl_slist, SlistDeleter> headers(
        curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str()));
    char errbuf[CURL_ERROR_SIZE] = {};
    if (!c || !headers || !http_setup(c, url, timeout, &body, errbuf)) {
        r.reason = url + ": cannot set up the HTTP request";
        return r;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    // Closed when the answer is in: a kept-alive connection would hold the drain itself.
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);

    const CURLcode rc = curl_easy_perform(c);
    r.connection = http_connection(c);
    if (rc != CURLE_OK) {
        r.reason = url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return r;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.http_status);
    switch (r.http_status) {
        case 202:
        case 200:
            r.outcome = HandoffOutcome::Accepted;
            break;
        case 404:
            r.outcome = HandoffOutcome::NotSupported;
            r.reason = url + " answered 404";
            return r;
        case 401:
            r.outcome = HandoffOutcome::Unauthorized;
            r.reason = url + " answered 401 Unauthorized: the deployment token is not the app's";
            return r;
        default:
            r.reason = url + " answered HTTP " + std::to_string(r.http_status);
            return r;
    }
    // The count is for the operator; an accepted handoff without it is still accepted.
    auto j = nlohmann::json::parse(body.text, nullptr, false);
    if (j.is_object())
        if (auto it = j.find("handoffPending"); it != j.end() && it->is_number_integer())
            r.pending = std::max<int64_t>(-1, it->get<int64_t>());
    return r;
}

std::string handoff_line(const HandoffResult& r, const std::string& url) {
    switch (r.outcome) {
        case HandoffOutcome::Accepted:
            return "[INFO] handoff: " + url + " accepted, " +
                   (r.pending >= 0 ? std::to_string(r.pending) : std::string("(uncounted)")) +
                   (r.pending == 1 ? " stream" : " streams") +
                   " to hand over at the next message boundary";
        case HandoffOutcome::NotSupported:
            return "[WARN] handoff not supported (404) by " + url + "; draining without it";
        case HandoffOutcome::Unauthorized:
            return "[WARN] handoff refused (401: the deployment token is not the app's) by " + url +
                   "; draining without it";
        case HandoffOutcome::Failed:
            break;
    }
    return "[WARN] handoff failed (" + r.reason + "); draining without it";
}

}  // namespace drainmon
