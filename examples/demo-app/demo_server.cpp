#include "demo_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <variant>
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "auth.hpp"
#include "connection_pool.hpp"
#include "connection_stream.hpp"
#include "query_params.hpp"
#include "sse_stream.hpp"
#include "common/unique_fd.hpp"

namespace zdd_demo {

namespace {

std::optional<std::string> param(const httplib::Request& req, const char* name) {
    if (!req.has_param(name)) return std::nullopt;
    return req.get_param_value(name);
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
    res.status = status;
    res.set_content(body.dump() + "\n", "application/json");
}

// The same answer as raw HTTP, for the overflow lane (which has no httplib response).
std::string raw_json(const JsonAnswer& a) {
    const char* reason = a.status == 200   ? "OK"
                         : a.status == 202 ? "Accepted"
                         : a.status == 401 ? "Unauthorized"
                         : a.status == 405 ? "Method Not Allowed"
                                           : "Service Unavailable";
    const std::string body = a.body.dump() + "\n";
    return "HTTP/1.1 " + std::to_string(a.status) + " " + reason +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           (a.www_authenticate ? "\r\nWWW-Authenticate: Bearer" : "") +
           (a.allow ? std::string("\r\nAllow: ") + a.allow : "") + "\r\nConnection: close\r\n\r\n" +
           body;
}

void send_answer(httplib::Response& res, const JsonAnswer& a) {
    if (a.www_authenticate) res.set_header("WWW-Authenticate", "Bearer");
    if (a.allow) res.set_header("Allow", a.allow);
    send_json(res, a.status, a.body);
}

constexpr const char* kHandoffPath = "/health/deployment/handoff";

const JsonAnswer& handoff_wrong_method() {
    static const JsonAnswer a{405, {{"error", "method not allowed; use POST"}}, false, "POST"};
    return a;
}

// The deployment token's verdict: nullopt when allowed, else the 401 or 503 answer.
std::optional<JsonAnswer> auth_refusal(const std::string& authorization, const std::string& token) {
    switch (check_bearer(authorization, token)) {
        case AuthResult::not_configured:
            return JsonAnswer{
                503,
                {{"error", "Service Unavailable"},
                 {"reason", "no deployment token configured (VIBE_DEPLOYMENT_TOKEN)"}}};
        case AuthResult::unauthorized:
            return JsonAnswer{401, {{"error", "unauthorized"}}, true};
        case AuthResult::allowed:
            break;
    }
    return std::nullopt;
}

// Reads and drops a body the request announced (keeping a keep-alive connection in step);
// one it did not announce is not waited for.
void skip_body(const httplib::Request& req, const httplib::ContentReader& body) {
    const std::string length = req.get_header_value("Content-Length");
    if (req.has_header("Transfer-Encoding") || (!length.empty() && length != "0"))
        body([](const char*, size_t) { return true; });
}

void bad_request(httplib::Response& res, const std::string& reason) {
    res.status = 400;
    res.set_content(reason + "\n", "text/plain");
}

}  // namespace

DemoServer::DemoServer(AppState& state, ServerOptions options)
    : state_(state),
      options_(std::move(options)),
      lane_([this](const RequestHead& h) { return overflow_answer(h); }, options_.overflow_held,
            options_.overflow_head_timeout) {
    const size_t max = options_.max_connections;
    new_task_queue = [max] { return new ConnectionPool(max); };
    // Only for the Keep-Alive header httplib writes; our connection loop enforces both.
    set_keep_alive_max_count(options_.keep_alive_max_requests);
    set_keep_alive_timeout(
        std::chrono::duration_cast<std::chrono::seconds>(options_.keep_alive_timeout).count());
    // httplib's default sets SO_REUSEPORT: any process of the same user could then listen on
    // this port too, and the kernel would hand it a share of new connections, health polls
    // included. SO_REUSEADDR alone still rebinds over TIME_WAIT after a restart.
    set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    add_routes();
}

int DemoServer::bind() {
    int port = options_.port;
    if (port == 0) {
        port = bind_to_any_port(options_.host);
    } else if (!bind_to_port(options_.host, port)) {
        port = -1;
    }
    // httplib listens with a tiny backlog; thousands of clients connecting at once need room.
    if (port > 0) ::listen(svr_sock_, SOMAXCONN);
    return port;
}

bool DemoServer::serve() {
    listen_after_bind();
    // httplib has closed the listener by now: a later close_listener() must not touch its fd.
    return listener_closed_.exchange(true);
}

void DemoServer::close_listener() {
    // Once only: after the accept loop fails it closes the fd, whose number may be reused.
    if (listener_closed_.exchange(true)) return;
    // shutdown() on a listening socket stops it listening and wakes the blocked accept(),
    // which ends httplib's accept loop. stop() would also end every chunked stream.
    ::shutdown(svr_sock_, SHUT_RDWR);
}

void DemoServer::add_routes() {
    Get("/", [this](const httplib::Request&, httplib::Response& res) {
        auto in_flight = state_.track_request();
        const auto& id = state_.identity();
        send_json(res, 200,
                  {{"service", "zdd-demo-app"},
                   {"version", id.version},
                   {"color", id.color},
                   {"port", id.port}});
    });

    Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        send_answer(res, health_answer());
    });

    Get("/health/deployment", [this](const httplib::Request& req, httplib::Response& res) {
        send_answer(res, deployment_answer(req.get_header_value("Authorization")));
    });

    // Content-reader handlers, so httplib does not wait for a body that was never announced:
    // it would read a bare POST (no Content-Length, as `curl -X POST` sends) until its timeout.
    Post(kHandoffPath, [this](const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& body) {
        if (!options_.handoff) {
            res.status = 404;  // --no-handoff: as an app that does not implement it
            return;
        }
        skip_body(req, body);
        send_answer(res, handoff_answer(req.get_header_value("Authorization")));
    });
    // Only POST asks for a handoff; 405 (not 404, which means "not implemented") otherwise.
    // httplib answers HEAD with the GET handler.
    auto wrong_method = [](const httplib::Request&, httplib::Response& res) {
        send_answer(res, handoff_wrong_method());
    };
    auto wrong_method_with_body = [](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& body) {
        skip_body(req, body);
        send_answer(res, handoff_wrong_method());
    };
    Get(kHandoffPath, wrong_method);
    Options(kHandoffPath, wrong_method);
    Put(kHandoffPath, wrong_method_with_body);
    Patch(kHandoffPath, wrong_method_with_body);
    Delete(kHandoffPath, wrong_method_with_body);

    Get("/stream/test", [this](const httplib::Request& req, httplib::Response& res) {
        std::optional<std::string> last_event_id;
        if (req.has_header("Last-Event-ID")) last_event_id = req.get_header_value("Last-Event-ID");
        auto plan =
            parse_stream_plan(param(req, "duration"), param(req, "interval_ms"), last_event_id);
        if (auto* err = std::get_if<std::string>(&plan)) return bad_request(res, *err);
        auto stream =
            std::make_shared<SseStream>(state_, std::get<StreamPlan>(plan), options_.handoff_retry);
        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Accel-Buffering", "no");  // nginx passes each event on at once
        res.set_chunked_content_provider(
            "text/event-stream",
            [stream](size_t, httplib::DataSink& sink) { return stream->next(sink); });
    });

    Get("/work", [this](const httplib::Request& req, httplib::Response& res) {
        auto ms = parse_bounded("ms", param(req, "ms"), 0, kMaxWorkMs, std::nullopt);
        if (auto* err = std::get_if<std::string>(&ms)) return bad_request(res, *err);
        auto in_flight = state_.track_request();
        const long wanted = std::get<long>(ms);
        const auto start = std::chrono::steady_clock::now();
        if (!state_.sleep_until(start + std::chrono::milliseconds(wanted))) {
            send_json(res, 503, {{"error", "cancelled"}, {"requestedMs", wanted}});
            return;
        }
        const auto& id = state_.identity();
        send_json(res, 200, {{"workedMs", wanted}, {"version", id.version}, {"color", id.color}});
    });

    set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (res.status == 404 && res.body.empty())
            res.set_content("not found: " + req.path + "\n", "text/plain");
    });
}

JsonAnswer DemoServer::health_answer() const {
    if (options_.fail_health_after_s > 0 && state_.uptime_seconds() >= options_.fail_health_after_s)
        return {503, {{"status", "failing"}, {"reason", "FAIL_HEALTH_AFTER_S"}}};
    return {200, {{"status", "ok"}, {"version", state_.identity().version}}};
}

JsonAnswer DemoServer::deployment_answer(const std::string& authorization) const {
    if (auto refusal = auth_refusal(authorization, options_.token)) return *refusal;
    const auto& id = state_.identity();
    return {200,
            {{"status", phase_name(state_.phase())},
             {"version", id.version},
             {"activeStreams", state_.active_streams()},
             {"activeRequests", state_.active_requests()},
             {"deploymentColor", id.color},
             {"port", id.port},
             {"uptimeSeconds", state_.uptime_seconds()},
             {"readyForShutdown", state_.ready_for_shutdown()},
             {"handoffPending", state_.handoff().pending()},
             {"handedOff", state_.handoff().handed_off()}}};
}

JsonAnswer DemoServer::handoff_answer(const std::string& authorization) {
    if (auto refusal = auth_refusal(authorization, options_.token)) return *refusal;
    const bool first = !state_.handoff().requested();
    const int pending = state_.request_handoff();
    if (first) spdlog::info("handoff: {} streams to hand over at their next event", pending);
    return {202, {{"handoffPending", pending}}};
}

std::string DemoServer::overflow_answer(const RequestHead& head) {
    const std::string path = head.target.substr(0, head.target.find('?'));
    // A flooded instance still takes the handoff: that is what empties it.
    if (path == kHandoffPath && options_.handoff)
        return raw_json(head.method == "POST" ? handoff_answer(head.authorization)
                                              : handoff_wrong_method());
    if (head.method != "GET") return {};
    if (path == "/health") return raw_json(health_answer());
    if (path == "/health/deployment") return raw_json(deployment_answer(head.authorization));
    return {};  // the lane answers 503
}

bool DemoServer::process_and_close_socket(int sock) {
    drainmon::UniqueFd fd(sock);
    if (ConnectionPool::refusing()) {
        lane_.add(fd.release());  // past capacity: only the health endpoints answer
        return false;
    }
    // httplib writes the head and the body separately: without TCP_NODELAY the body waits
    // for the client's delayed ACK (~40 ms) on a reused keep-alive connection.
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ConnectionStream strm(fd.get(), options_.read_timeout, options_.write_timeout);
    bool ok = true;
    for (size_t served = 0; served < options_.keep_alive_max_requests; ++served) {
        if (!await_request(fd.get(), served == 0)) break;
        const bool last =
            served + 1 == options_.keep_alive_max_requests || state_.phase() != Phase::serving;
        bool closed_by_client = false;
        ok = process_request(strm, last, closed_by_client, nullptr);
        if (!ok || closed_by_client || last) break;
    }
    ::shutdown(fd.get(), SHUT_RDWR);
    return ok;
}

bool DemoServer::await_request(int fd, bool first) {
    // A new connection's first request is always awaited (its client already got in); an idle
    // keep-alive connection leaves as soon as the app drains or cancels, unless its next
    // request is already there.
    const auto timeout = first ? options_.read_timeout : options_.keep_alive_timeout;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd p[2] = {{fd, POLLIN, 0}, {state_.stop_fd(), POLLIN, 0}};
    nfds_t n = 2;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        int r = ::poll(p, n, static_cast<int>(std::max<long>(0, left.count())));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        if (p[0].revents) return true;
        if (!first || state_.cancelled()) return false;
        n = 1;  // draining: keep waiting for this first request only
    }
}

}  // namespace zdd_demo
