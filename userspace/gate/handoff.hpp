// Stream handoff (docs/health-contract.md "Stream handoff"): POST /health/deployment/handoff
// with the deployment token asks an instance that is out of the upstream to end each open
// stream at its next message boundary (SSE: `retry:`, `event: handoff`, close), so resuming
// clients reconnect to the serving color and the drain lasts seconds, not the streams' length.
// zdd's drain and `drain-inspector wait --handoff` ask once, then drain as always; any answer
// but 202 is one warning line and a normal drain.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "monitor/socket_sample.hpp"

namespace drainmon {

enum class HandoffOutcome {
    Accepted,      // 202: the app hands its streams over
    NotSupported,  // 404: the app does not implement handoff
    Unauthorized,  // 401: the token is not the app's
    Failed,        // no answer (timeout, refused), another status, or a malformed body
};

struct HandoffResult {
    HandoffOutcome outcome = HandoffOutcome::Failed;
    int64_t pending = -1;  // handoffPending of a 202 (-1 when the body did not say)
    long http_status = 0;  // 0 when no HTTP answer came
    std::string reason;    // what went wrong, one line ("" when accepted)
    // The request's connection {server endpoint, client endpoint}, as AppPoll::connection: the
    // drain leaves it out of the kernel's count.
    std::optional<std::pair<Endpoint, Endpoint>> connection;
};

// ".../health/deployment[?q]" -> ".../health/deployment/handoff[?q]": drain-inspector's
// --health-url names the report; the handoff sits below it.
std::string handoff_url_for(const std::string& health_url);

// One POST to `url` with `Authorization: Bearer token`, bounded by `timeout`, on a connection
// of its own that is closed after the answer.
HandoffResult request_handoff(const std::string& url, const std::string& token,
                              std::chrono::milliseconds timeout);

// The one line a drain prints about it: "[INFO] handoff: ... N streams to hand over ..." or
// "[WARN] handoff not supported (404) by ...; draining without it".
std::string handoff_line(const HandoffResult& r, const std::string& url);

}  // namespace drainmon
