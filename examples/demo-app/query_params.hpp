// Strict parsing of integer query parameters: the whole text must be a number within bounds.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace zdd_demo {

// The value, or a one-line reason naming the parameter (for a 400 answer).
// `text` nullopt means the parameter is absent: `fallback` is used, or absence is an error.
std::variant<long, std::string> parse_bounded(std::string_view name,
                                              const std::optional<std::string>& text, long min,
                                              long max, std::optional<long> fallback);

}  // namespace zdd_demo
