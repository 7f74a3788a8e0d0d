// -v/--verbose and -q/--quiet for zdd and drain-inspector (common/logging.hpp), on the app and
// accepted after the subcommand too (fallthrough).
#pragma once

#include <CLI/CLI.hpp>

#include "common/logging.hpp"

namespace drainmon::logging {

inline void add_verbosity_flags(CLI::App& app, Verbosity& v) {
    app.add_flag_callback(
        "-v,--verbose", [&v] { v = Verbosity::verbose; }, "Debug lines too (libbpf's included)");
    app.add_flag_callback(
        "-q,--quiet", [&v] { v = Verbosity::quiet; }, "Warnings and errors only");
    app.fallthrough();
}

}  // namespace drainmon::logging
