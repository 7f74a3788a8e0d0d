// One log format for zdd and drain-inspector, through spdlog: "[INFO] msg", "[WARN] msg",
// "[ERROR] msg", "[DEBUG] msg" (the original script's lines, which tests and operators grep).
// -q shows warnings and errors only; -v adds debug lines, libbpf's own output included
// (monitor/bpf_backend.cpp hands libbpf's print callback to spdlog::debug).
#pragma once

#include <spdlog/common.h>

#include <iosfwd>
#include <memory>
#include <string_view>

namespace spdlog {
class formatter;
}

namespace drainmon::logging {

enum class Verbosity { quiet, normal, verbose };

// The spdlog level a verbosity shows: warn, info or debug.
spdlog::level::level_enum level_for(Verbosity v);

// A formatter for the house pattern "[LEVEL] msg\n" with upper-case names (WARN, not warning).
std::unique_ptr<spdlog::formatter> house_formatter();

// Makes spdlog's default logger write the house format to stderr at `v`'s level. Call first in
// main (spdlog's own default writes a timestamped line to stdout, which carries JSON).
void setup(Verbosity v);

// Whether lines of `level` show (-q hides info; lines built elsewhere, like the drain's
// "[INFO] Waiting ..." progress line, ask this).
bool shows(spdlog::level::level_enum level);

// One line in the house format to `out` (a flow's stream, a test's ostringstream), when `level`
// passes the default logger's level.
void write(std::ostream& out, spdlog::level::level_enum level, std::string_view msg);

}  // namespace drainmon::logging
