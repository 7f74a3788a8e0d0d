// The CLI11 check for a duration option (duration.hpp): the same range and messages for every
// flag and environment variable of zdd and drain-inspector.
#pragma once

#include <CLI/CLI.hpp>
#include <stdexcept>
#include <string>

#include "common/duration.hpp"

namespace drainmon {

inline CLI::Validator duration_check(ZeroIs zero) {
    return CLI::Validator(
        [zero](std::string& text) -> std::string {
            try {
                parse_duration_seconds(text, zero);
                return "";
            } catch (const std::invalid_argument& e) {
                return std::string("the duration ") + e.what();
            }
        },
        "SECONDS");
}

}  // namespace drainmon
