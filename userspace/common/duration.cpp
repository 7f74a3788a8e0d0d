#include "common/duration.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace drainmon {

std::string duration_problem(double s, ZeroIs zero) {
    const std::string forever = zero == ZeroIs::forever ? "; use 0 for forever" : "";
    if (std::isnan(s)) return "is not a number of seconds";
    if (s < 0) return "must not be negative" + forever;
    if (s > kMaxDurationSeconds)  // inf too
        return "is out of range: at most 2592000 seconds (30 days)" + forever;
    if (s == 0) return zero == ZeroIs::refused ? "must be more than 0 seconds" : "";
    if (s < kMinDurationSeconds)
        return "is below 1 ms, the smallest duration" +
               std::string(zero == ZeroIs::forever ? " (0 means forever)" : "");
    return "";
}

double parse_duration_seconds(std::string_view text, ZeroIs zero) {
    double v = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
    if (text.empty() || ec == std::errc::invalid_argument || ptr != end)
        throw std::invalid_argument("is not a number of seconds");
    if (ec == std::errc::result_out_of_range)  // 1e400
        v = text[0] == '-' ? -HUGE_VAL : HUGE_VAL;
    if (auto why = duration_problem(v, zero); !why.empty()) throw std::invalid_argument(why);
    return v;
}

std::chrono::milliseconds duration_ms(double s) {
    if (!(s > 0)) return std::chrono::milliseconds(0);
    const double ms = std::round(std::min(s, kMaxDurationSeconds) * 1000.0);
    return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

}  // namespace drainmon
