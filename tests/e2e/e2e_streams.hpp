// An SSE stream through the E2eHost's nginx, open on blue before the test goes on: what the
// operations tests (rollback during a drain, state intents) keep alive across their faults.
#pragma once

#include <string>

#include "demo_app_process.hpp"
#include "e2e_host.hpp"

namespace zdd_e2e {

// curl on /stream/test for `seconds` (an event every 500 ms), output in `out`; returns once
// blue reports the stream.
inline zdd_test::Subprocess open_blue_stream(E2eHost& h, const std::string& out, int seconds) {
    using namespace std::chrono_literals;
    auto curl = zdd_demo_test::curl_child("http://127.0.0.1:" + std::to_string(h.nginx_port()) +
                                              "/stream/test?duration=" + std::to_string(seconds) +
                                              "&interval_ms=500",
                                          out);
    REQUIRE(zdd_test::wait_until(
        [&] { return h.deployment_report(h.blue_port()).value("activeStreams", 0) == 1; }, 5s));
    return curl;
}

}  // namespace zdd_e2e
