// The snapshot as an aligned table for people (drain-inspector snapshot and watch).
#pragma once

#include <string>

#include "monitor/socket_sample.hpp"

namespace drainmon {

// Ports first, then one row per socket; a warning line first when the counts are incomplete.
std::string render_snapshot_table(const Snapshot& snap);

}  // namespace drainmon
