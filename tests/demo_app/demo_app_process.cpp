#include "demo_app_process.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <curl/curl.h>

#include "temp_dir.hpp"

namespace zdd_demo_test {

std::string demo_app_binary() {
    return zdd_test::build_dir() + "/examples/demo-app/zdd-demo-app";
}
std::string sse_load_binary() {
    return zdd_test::build_dir() + "/tests/demo_app/zdd-demo-sse-load";
}
std::string sse_resume_binary() {
    return zdd_test::build_dir() + "/tests/demo_app/zdd-demo-sse-resume";
}

std::string temp_path(const std::string& stem) {
    static zdd_test::TempDir dir("zdd-demo-test");  // one per test process, removed at exit
    static std::atomic<int> seq{0};
    return dir.file(stem + "-" + std::to_string(++seq));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

namespace {
size_t append_body(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}
}  // namespace

HttpResult http_get(const std::string& url, const std::vector<std::string>& headers,
                    long timeout_ms) {
    return http_request("GET", url, headers, std::nullopt, timeout_ms);
}

HttpResult http_request(const std::string& method, const std::string& url,
                        const std::vector<std::string>& headers,
                        const std::optional<std::string>& body, long timeout_ms) {
    HttpResult r;
    CURL* curl = curl_easy_init();
    if (!curl) {
        r.error = "curl_easy_init failed";
        return r;
    }
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &append_body);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
    }
    if (method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (method != "GET" || body) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    const CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
        char* ct = nullptr;
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) r.content_type = ct;
    } else {
        r.error = curl_easy_strerror(rc);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return r;
}

DemoApp::DemoApp() : DemoApp(Options{}) {}

DemoApp::DemoApp(Options options) : log_path_(temp_path("app-log")) {
    std::vector<std::string> argv;
    if (!options.unset_env.empty()) argv.push_back("env");
    for (const auto& name : options.unset_env) {
        argv.push_back("-u");
        argv.push_back(name);
    }
    argv.push_back(demo_app_binary());
    if (options.choose_port) {
        port_ = zdd_test::free_port();
        argv.push_back("--port");
        argv.push_back(std::to_string(port_));
    } else {
        port_ = static_cast<uint16_t>(std::stoi(options.env.at("PORT")));
    }
    argv.insert(argv.end(), options.args.begin(), options.args.end());
    // The test's own environment may carry a token; each test states the app's explicitly.
    std::map<std::string, std::string> env = options.env;
    auto unset = [&](const char* name) {
        return std::find(options.unset_env.begin(), options.unset_env.end(), name) !=
               options.unset_env.end();
    };
    if (!env.count("VIBE_DEPLOYMENT_TOKEN") && !unset("VIBE_DEPLOYMENT_TOKEN"))
        env["VIBE_DEPLOYMENT_TOKEN"] = "";
    proc_ = std::make_unique<zdd_test::Subprocess>(argv, env, "", log_path_);
    const bool up = zdd_test::wait_until(
        [&] { return !proc_->running() || http_get(url("/health"), {}, 1000).status == 200; },
        std::chrono::seconds(10), std::chrono::milliseconds(50));
    if (!up || !proc_->running())
        throw std::runtime_error("zdd-demo-app did not come up on port " + std::to_string(port_) +
                                 ": " + log());
}

std::string DemoApp::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::string DemoApp::log() const {
    return read_file(log_path_);
}

nlohmann::json DemoApp::deployment() const {
    auto r = http_get(url("/health/deployment"), {std::string("Authorization: Bearer ") + kToken});
    if (r.status != 200)
        throw std::runtime_error("deployment report: HTTP " + std::to_string(r.status) + " " +
                                 r.error + " " + r.body);
    return nlohmann::json::parse(r.body);
}

HttpResult DemoApp::handoff() const {
    return http_request("POST", url("/health/deployment/handoff"),
                        {std::string("Authorization: Bearer ") + kToken}, "");
}

bool DemoApp::wait_report(const std::function<bool(const nlohmann::json&)>& pred,
                          std::chrono::milliseconds timeout) const {
    return zdd_test::wait_until([&] { return pred(deployment()); }, timeout,
                                std::chrono::milliseconds(25));
}

zdd_test::Subprocess curl_child(const std::string& url, const std::string& out_path) {
    return zdd_test::Subprocess({"curl", "-sSN", "--max-time", "120", "-o", out_path, url});
}

}  // namespace zdd_demo_test
