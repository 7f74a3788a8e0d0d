// The one URL builder of zdd and drain-inspector: an IPv6 --host gets its brackets (a drain
// with --host ::1 once polled "http://::1:8080/...", which no client can parse).
#include <catch2/catch.hpp>

#include "gate/http_client.hpp"

using drainmon::http_url;

TEST_CASE("http_url brackets IPv6 hosts and only them") {
    CHECK(http_url("127.0.0.1", 8080, "/health") == "http://127.0.0.1:8080/health");
    CHECK(http_url("localhost", 8081, "/health/deployment") ==
          "http://localhost:8081/health/deployment");
    CHECK(http_url("::1", 8080, "/health/deployment") == "http://[::1]:8080/health/deployment");
    CHECK(http_url("[::1]", 8080, "/health") == "http://[::1]:8080/health");
}
