// /health/deployment bodies found by probing the app_report fuzz target (fuzz/) with wrongly
// typed fields: parse_app_report promises a report or std::invalid_argument; a foreign
// exception escapes AppReportClient::poll (it catches only invalid_argument) and undefined
// behaviour (a huge double cast to an integer) gives garbage.
#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "gate/app_report.hpp"

namespace {

// "ok" (a report with sane values), "invalid" (std::invalid_argument) or what went wrong.
std::string outcome(const std::string& body) {
    try {
        auto r = drainmon::parse_app_report(body);
        if (r.port < 0 || r.port > 65535) return "port out of range: " + std::to_string(r.port);
        return "ok";
    } catch (const std::invalid_argument&) {
        return "invalid";
    } catch (const std::exception& e) {
        return std::string("foreign exception: ") + e.what();
    }
}

}  // namespace

TEST_CASE("wrongly typed optional fields are a report or invalid_argument, nothing else") {
    const std::string base = R"({"activeStreams":0,"activeRequests":0,)";
    for (const std::string extra :
         {R"("readyForShutdown":"yes"})", R"("port":"8080"})", R"("version":3})",
          R"("uptimeSeconds":"long"})", R"("deploymentColor":["blue"]})"}) {
        INFO(extra);
        auto o = outcome(base + extra);
        CHECK((o == "ok" || o == "invalid"));
        CHECK(o.find("foreign") == std::string::npos);
    }
}

TEST_CASE("a port beyond any integer is not cast into garbage") {
    // UBSan in the fuzz build: "1e+300 is outside the range of representable values of type
    // 'long'" (nlohmann's get<int64_t> from a double).
    auto o = outcome(R"({"activeStreams":0,"activeRequests":0,"port":1e300})");
    CHECK((o == "ok" || o == "invalid"));
}
