// The snapshot as the one JSON object scripts read (issues 2 and 3 fix the names).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "monitor/socket_sample.hpp"

namespace drainmon {

nlohmann::json snapshot_to_json(const Snapshot& snap);
nlohmann::json socket_to_json(const SocketSample& s);

// The same object written as the sockets stream by (Backend::walk), for any number of them:
// no document is built, each socket is written as it comes. "backend" first, then "sockets",
// then the counts and flags, which are known only once the walk is over. A parser sees the
// object snapshot_to_json gives (same names, values and indentation); only the order of the
// top-level names differs.
class SnapshotJsonStream {
  public:
    SnapshotJsonStream(std::ostream& out, const std::string& backend);
    void add(const SocketSample& s);
    // Writes `summary`'s sockets (if any), its counts and flags, and closes the object.
    void finish(const Snapshot& summary);

  private:
    std::ostream& out_;
    std::string backend_;
    size_t sockets_ = 0;
    std::string text_;  // one socket's text, reused
};

}  // namespace drainmon
