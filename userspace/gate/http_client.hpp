// The one libcurl setup every HTTP client of zdd and drain-inspector uses (the app-report poll,
// the health check, the probe through nginx). They send the deployment token or talk to a
// local instance, so a proxy is never used whatever http_proxy/HTTPS_PROXY/ALL_PROXY say:
// CURLOPT_PROXY "" and CURLOPT_NOPROXY "*".
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "monitor/socket_sample.hpp"

namespace drainmon {

// A response body, cut off (the transfer fails) beyond max bytes.
struct HttpBody {
    std::string text;
    std::size_t max = 64 * 1024;
};

// curl_global_init, once per process.
void http_global_init();

// Prepares `curl` for one plain GET of `url`: bounded by `timeout` (connect and whole
// transfer), no proxy, http/https only, no signals, the body into `body`, the error text into
// `errbuf` (CURL_ERROR_SIZE bytes). Returns false if libcurl refused an option.
// "http://host:port/path", an IPv6 host in brackets ("http://[::1]:8080/health"): the one place
// zdd and drain-inspector build a URL from a --host and a port.
std::string http_url(const std::string& host, uint16_t port, const std::string& path);

bool http_setup(CURL* curl, const std::string& url, std::chrono::milliseconds timeout,
                HttpBody* body, char* errbuf);

// After a transfer on `curl`: its connection as the server sees it, {server endpoint (ip:port
// of the URL's host), client endpoint}, the form Backend::snapshot's `exclude` takes; empty
// when no connection was made.
std::optional<std::pair<Endpoint, Endpoint>> http_connection(CURL* curl);

}  // namespace drainmon
