// Durations (common/duration.hpp), the one parser behind every timeout, interval and threshold
// of zdd and drain-inspector: any text is either a duration in the documented range (finite,
// 0 or >= 1 ms, <= 30 days, fitting 32-bit ms) or std::invalid_argument with one of the fixed
// one-line reasons (never a piece of the text).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "common/duration.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using drainmon::ZeroIs;
    const std::string text(reinterpret_cast<const char*>(data), size);
    for (ZeroIs zero : {ZeroIs::forever, ZeroIs::allowed, ZeroIs::refused}) {
        try {
            const double v = drainmon::parse_duration_seconds(text, zero);
            if (!std::isfinite(v) || v < 0 || v > drainmon::kMaxDurationSeconds)
                zdd_fuzz::broken("out-of-range duration accepted:", text);
            if (v == 0 && zero == ZeroIs::refused) zdd_fuzz::broken("0 accepted:", text);
            if (v != 0 && v < drainmon::kMinDurationSeconds)
                zdd_fuzz::broken("a duration below 1 ms accepted:", text);
            const auto ms = drainmon::duration_ms(v).count();
            if (ms < 0 || ms > std::numeric_limits<uint32_t>::max() || (v > 0 && ms == 0))
                zdd_fuzz::broken("milliseconds out of range for:", text);
        } catch (const std::invalid_argument& e) {
            const std::string msg = e.what();
            zdd_fuzz::require_one_line(msg);
            // The reason is one of the fixed ones (so it cannot carry any of the input).
            bool known = false;
            for (const char* canon : {"x", "-1", "1e10", "0", "0.0001"}) {
                try {
                    drainmon::parse_duration_seconds(canon, zero);
                } catch (const std::invalid_argument& c) {
                    known = known || msg == c.what();
                }
            }
            if (!known) zdd_fuzz::broken("an unexpected message:", msg);
        }
    }
    return 0;
}
