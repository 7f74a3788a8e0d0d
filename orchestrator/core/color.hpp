// The two deploy colors. Blue runs on the first port of --ports, green on the second.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zdd {

enum class Color { blue, green };

inline constexpr std::array<Color, 2> kColors{Color::blue, Color::green};

inline std::string to_string(Color c) {
    return c == Color::blue ? "blue" : "green";
}
inline Color other(Color c) {
    return c == Color::blue ? Color::green : Color::blue;
}
inline std::optional<Color> parse_color(std::string_view s) {
    if (s == "blue") return Color::blue;
    if (s == "green") return Color::green;
    return std::nullopt;
}
// ports = {blue, green}
inline uint16_t port_of(Color c, const std::array<uint16_t, 2>& ports) {
    return c == Color::blue ? ports[0] : ports[1];
}

}  // namespace zdd
