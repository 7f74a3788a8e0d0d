#include "gate/http_client.hpp"

#include <mutex>

namespace drainmon {

namespace {

size_t append_body(char* data, size_t size, size_t n, void* out) {
    auto* body = static_cast<HttpBody*>(out);
    if (body->text.size() + size * n > body->max) return 0;  // aborts the transfer
    body->text.append(data, size * n);
    return size * n;
}

}  // namespace

void http_global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool http_setup(CURL* c, const std::string& url, std::chrono::milliseconds timeout, HttpBody* body,
                char* errbuf) {
    const long ms = static_cast<long>(timeout.count());
    bool ok = true;
    auto set = [&](CURLcode rc) { ok = ok && rc == CURLE_OK; };
    set(curl_easy_setopt(c, CURLOPT_URL, url.c_str()));
    set(curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https"));
    // Never a proxy: an empty CURLOPT_PROXY overrides the *_proxy variables and NOPROXY "*"
    // exempts every host, so the token only ever goes to the URL's own host.
    set(curl_easy_setopt(c, CURLOPT_PROXY, ""));
    set(curl_easy_setopt(c, CURLOPT_NOPROXY, "*"));
    set(curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L));
    set(curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms));
    set(curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms));
    set(curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L));
    set(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body));
    set(curl_easy_setopt(c, CURLOPT_WRITEDATA, body));
    set(curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf));
    return ok;
}

std::string http_url(const std::string& host, uint16_t port, const std::string& path) {
    const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
    return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + path;
}

}  // namespace drainmon
