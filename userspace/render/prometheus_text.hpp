// Prometheus text exposition (format 0.0.4) of a snapshot, and its atomic textfile write for
// node_exporter's textfile collector.
#pragma once

#include <stdexcept>
#include <string>

#include "monitor/socket_sample.hpp"

namespace drainmon {

// Families: zdd_tcp_connections{port,class,reason} (every valid class/reason pair, zeros
// included, so series do not vanish), zdd_tcp_sockets{port,state}, zdd_tcp_listeners{port},
// zdd_tcp_state_changes_total{port,state}, zdd_monitor_map_overflow_total,
// zdd_monitor_counter_underflow_total, zdd_monitor_incomplete, zdd_monitor_walks_total,
// zdd_monitor_info{backend}.
std::string render_prometheus(const Snapshot& snap);

// A label value with \, " and newline escaped as the format requires.
std::string escape_label_value(const std::string& v);

struct TextfileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Writes dir/name through a temp file in dir + fsync + rename, so a reader never sees half a
// file. Throws TextfileError (one line).
void write_textfile_atomic(const std::string& dir, const std::string& name,
                           const std::string& content);

}  // namespace drainmon
