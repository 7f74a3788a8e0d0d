// The /health/deployment answer body (drainmon::parse_app_report): a report with
// non-negative counts, or std::invalid_argument with one line. Anything else that escapes
// (another exception type included) would take down the drain wait, so it is a crash here.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "gate/app_report.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);
    try {
        auto r = drainmon::parse_app_report(body);
        if (r.active_streams < 0 || r.active_requests < 0)
            zdd_fuzz::broken("negative counts accepted");
    } catch (const std::invalid_argument& e) {
        zdd_fuzz::require_one_line(e.what());
    }
    return 0;
}
