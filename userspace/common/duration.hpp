// Durations given by the operator (zdd's and drain-inspector's timeouts, intervals and
// classifier thresholds): seconds with decimals, one documented range for all of them.
// 0 <= s <= kMaxDurationSeconds (30 days), and a non-zero value is at least 1 ms; nan, inf,
// negative and out-of-range values are refused (a timeout of 1e10 s used to overflow into an
// immediate expiry; 0 is how to say "forever" where that is meant). Within the range, a
// steady_clock deadline cannot overflow and a threshold fits the 32-bit milliseconds the BPF
// classifier uses, so no value is silently truncated.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace drainmon {

inline constexpr double kMaxDurationSeconds = 30.0 * 86400;  // 2,592,000 s < 2^32 ms
inline constexpr double kMinDurationSeconds = 0.001;

// What 0 means for an option: "forever" (a timeout), a valid instant, or not allowed.
enum class ZeroIs { forever, allowed, refused };

// "" when `seconds` is a valid duration, else why not (one line, never the value itself).
std::string duration_problem(double seconds, ZeroIs zero);

// Parses the whole text as seconds ("2", "1.5", "1e3"); throws std::invalid_argument with the
// reason (never the value: it may come from a file that is not meant for zdd).
double parse_duration_seconds(std::string_view text, ZeroIs zero);

// A checked duration in milliseconds, rounded; values out of range saturate (never wrap).
std::chrono::milliseconds duration_ms(double seconds);

}  // namespace drainmon
