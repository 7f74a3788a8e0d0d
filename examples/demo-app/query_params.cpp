#include "query_params.hpp"

#include <charconv>

namespace zdd_demo {

std::variant<long, std::string> parse_bounded(std::string_view name,
                                              const std::optional<std::string>& text, long min,
                                              long max, std::optional<long> fallback) {
    const std::string range = std::to_string(min) + ".." + std::to_string(max);
    if (!text) {
        if (fallback) return *fallback;
        return std::string(name) + " is required (an integer in " + range + ")";
    }
    long value = 0;
    const char* first = text->data();
    const char* last = first + text->size();
    auto [ptr, ec] = std::from_chars(first, last, value);
    if (text->empty() || ec == std::errc::invalid_argument || ptr != last)
        return std::string(name) + " must be an integer in " + range + ", got '" + *text + "'";
    if (ec == std::errc::result_out_of_range || value < min || value > max)
        return std::string(name) + " out of range " + range + ": " + *text;
    return value;
}

}  // namespace zdd_demo
