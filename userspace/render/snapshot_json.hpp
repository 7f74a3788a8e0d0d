// The snapshot as the one JSON object scripts read (issues 2 and 3 fix the names).
#pragma once

#include <nlohmann/json.hpp>

#include "monitor/socket_sample.hpp"

namespace drainmon {

nlohmann::json snapshot_to_json(const Snapshot& snap);
nlohmann::json socket_to_json(const SocketSample& s);

}  // namespace drainmon
