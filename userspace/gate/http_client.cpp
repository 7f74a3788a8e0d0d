#include "gate/http_client.hpp"

#include <sys/socket.h>

#include <mutex>

namespace drainmon {

namespace {

size_t append_body(char* data, size_t size, size_t n, void* out) {
    auto* body = static_cast<HttpBody*>(out);
    if (body->text.size() + size * n > body->max) return 0;  // aborts the transfer
    body->text.append(data, size * n);
    return size * n;
}

Endpoint endpoint_of(const char* ip, long port) {
    Endpoint e;
    e.ip = ip ? ip : "";
    e.family = e.ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    e.port = static_cast<uint16_t>(port);
    return e;
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

std::optional<std::pair<Endpoint, Endpoint>> http_connection(CURL* c) {
    char* local_ip = nullptr;
    char* primary_ip = nullptr;
    long local_port = 0, primary_port = 0;
    if (curl_easy_getinfo(c, CURLINFO_LOCAL_IP, &local_ip) == CURLE_OK &&
        curl_easy_getinfo(c, CURLINFO_LOCAL_PORT, &local_port) == CURLE_OK &&
        curl_easy_getinfo(c, CURLINFO_PRIMARY_IP, &primary_ip) == CURLE_OK &&
        curl_easy_getinfo(c, CURLINFO_PRIMARY_PORT, &primary_port) == CURLE_OK && local_ip &&
        *local_ip && local_port > 0 && primary_ip && *primary_ip && primary_port > 0)
        return std::pair{endpoint_of(primary_ip, primary_port), endpoint_of(local_ip, local_port)};
    return std::nullopt;
}

std::string http_url(const std::string& host, uint16_t port, const std::string& path) {
    const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
    return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + path;
}

}  // namespace drainmon
