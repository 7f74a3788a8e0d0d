#include "gate/app_report.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <type_traits>
#include <vector>

#include "common/unique_fd.hpp"
#include "gate/http_client.hpp"

namespace drainmon {

namespace {

struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

int64_t required_int(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) throw std::invalid_argument(std::string("no \"") + key + "\" in the answer");
    if (!it->is_number_integer())
        throw std::invalid_argument(std::string("\"") + key + "\" is not an integer");
    return it->get<int64_t>();
}

// Optional fields: absent gives the default, a wrong type is an invalid answer (never a
// foreign exception, never a cast of an out-of-range double).
template <typename T>
T optional_field(const nlohmann::json& j, const char* key, T dflt) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return dflt;
    bool ok;
    if constexpr (std::is_same_v<T, bool>)
        ok = it->is_boolean();
    else if constexpr (std::is_same_v<T, std::string>)
        ok = it->is_string();
    else if constexpr (std::is_integral_v<T>)
        ok = it->is_number_integer();
    else
        ok = it->is_number();
    if (!ok) throw std::invalid_argument(std::string("\"") + key + "\" has the wrong type");
    return it->get<T>();
}

// An optional count: -1 when absent, a negative one is an invalid answer.
int64_t optional_count(const nlohmann::json& j, const char* key) {
    const int64_t n = optional_field(j, key, int64_t{-1});
    if (n < -1 || (n == -1 && j.contains(key) && !j[key].is_null()))
        throw std::invalid_argument(std::string("\"") + key + "\" is negative");
    return n;
}

std::string trim(const std::string& s) {
    const char* ws = " \t\r\n";
    auto b = s.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::string unquote(std::string v) {
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
        return v.substr(1, v.size() - 2);
    return v;
}

}  // namespace

void CurlHandleDeleter::operator()(void* curl) const {
    curl_easy_cleanup(static_cast<CURL*>(curl));
}

AppReport parse_app_report(const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) throw std::invalid_argument("the answer is not JSON");
    if (!j.is_object()) throw std::invalid_argument("the answer is not a JSON object");
    AppReport r;
    r.active_streams = required_int(j, "activeStreams");
    r.active_requests = required_int(j, "activeRequests");
    if (r.active_streams < 0 || r.active_requests < 0)
        throw std::invalid_argument("activeStreams/activeRequests are negative");
    r.ready_for_shutdown = optional_field(j, "readyForShutdown", false);
    r.status = optional_field(j, "status", std::string());
    r.version = optional_field(j, "version", std::string());
    r.deployment_color = optional_field(j, "deploymentColor", std::string());
    r.port = optional_field(j, "port", int64_t{0});
    if (r.port < 0 || r.port > 65535) throw std::invalid_argument("\"port\" is out of range");
    r.uptime_seconds = optional_field(j, "uptimeSeconds", 0.0);
    r.handoff_pending = optional_count(j, "handoffPending");
    r.handed_off = optional_count(j, "handedOff");
    return r;
}

AppReportClient::AppReportClient(std::string url, std::string token,
                                 std::chrono::milliseconds timeout)
    : url_(std::move(url)), token_(std::move(token)), timeout_(timeout) {
    http_global_init();
    curl_.reset(curl_easy_init());
    if (!curl_) throw std::runtime_error("curl_easy_init failed");
}

AppPoll AppReportClient::poll() {
    CURL* c = static_cast<CURL*>(curl_.get());
    curl_easy_reset(c);
    HttpBody body;
    body.max = 1u << 20;  // a health answer is small; a huge one is not a health answer
    std::unique_ptr<curl_slist, SlistDeleter> headers(
        curl_slist_append(nullptr, ("Authorization: Bearer " + token_).c_str()));
    char errbuf[CURL_ERROR_SIZE] = {};
    AppPoll p;
    if (!headers || !http_setup(c, url_, timeout_, &body, errbuf)) {
        p.reason = url_ + ": cannot set up the HTTP request";
        return p;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    // A new connection per poll, closed when the answer is in: a kept-alive poll connection
    // would itself look like a client the app still serves.
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);

    CURLcode rc = curl_easy_perform(c);

    p.connection = http_connection(c);

    if (rc != CURLE_OK) {
        p.reason = url_ + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return p;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &p.http_status);
    if (p.http_status == 401) {
        p.outcome = AppOutcome::Unauthorized;
        p.reason = url_ + " answered 401 Unauthorized: the deployment token is not the app's";
        return p;
    }
    if (p.http_status != 200) {
        p.reason = url_ + " answered HTTP " + std::to_string(p.http_status);
        return p;
    }
    try {
        p.report = parse_app_report(body.text);
        p.outcome = AppOutcome::Report;
    } catch (const std::invalid_argument& e) {
        p.reason = url_ + ": malformed answer: " + e.what();
    }
    return p;
}

std::string read_token_file(const std::string& path) {
    // One fd for the checks and the read (a symlink, as Kubernetes secrets are, is followed).
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0)
        throw TokenFileError("cannot read token file " + path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw TokenFileError("token file " + path + " is not a regular file");
    // As documented: root's (or the user's running us), mode 0600 or 0400. A file another
    // user owns could be replaced by them with a token of their choosing.
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
        throw TokenFileError("token file " + path + " is owned by uid " +
                             std::to_string(st.st_uid) + ", not by root or uid " +
                             std::to_string(::geteuid()) + ": run chown root " + path);
    if (st.st_mode & 077) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        throw TokenFileError("token file " + path + " is " +
                             (st.st_mode & 044 ? "readable" : "accessible") +
                             " by group or others (mode " + mode + "): run chmod 600 " + path);
    }
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            throw TokenFileError("cannot read token file " + path + ": " + std::strerror(errno));
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > (64u << 10)) throw TokenFileError("token file " + path + " is too large");
    }
    std::istringstream in(text);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        lines.push_back(line);
    }
    const std::string key = "VIBE_DEPLOYMENT_TOKEN";
    for (auto l : lines) {
        if (l.rfind("export", 0) == 0 && l.size() > 6 && (l[6] == ' ' || l[6] == '\t'))
            l = trim(l.substr(6));
        auto eq = l.find('=');
        if (eq == std::string::npos || trim(l.substr(0, eq)) != key) continue;
        std::string token = unquote(trim(l.substr(eq + 1)));
        if (token.empty()) throw TokenFileError("token file " + path + ": " + key + " is empty");
        return token;
    }
    // A file holding only the token: one word that is not another variable's assignment
    // (a base64 token may end in '=' padding, so "NAME=value" needs a value not starting '=').
    if (lines.size() == 1 && lines[0].find_first_of(" \t") == std::string::npos &&
        !std::regex_match(lines[0], std::regex("[A-Za-z_][A-Za-z0-9_]*=[^=].*")))
        return lines[0];
    if (lines.empty()) throw TokenFileError("token file " + path + " is empty");
    throw TokenFileError("token file " + path + " has no " + key +
                         "= line and is not a bare token");
}

}  // namespace drainmon
