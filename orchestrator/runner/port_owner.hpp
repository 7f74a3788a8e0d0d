// Who listens on a local TCP port (this network namespace; sock_diag, then /proc/<pid>/fd): used to
// adopt a host run by the original script (its instance's pid was never recorded) and to refuse a
// start on a busy port without opening a connection to it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "monitor/listening_ports.hpp"

namespace zdd {

// True when a LISTEN socket (IPv4 or IPv6) has local port `port`: the one check, shared with
// drain-inspector.
using drainmon::port_listening;
// The process holding that LISTEN socket, when one can be found.
std::optional<pid_t> listener_pid(uint16_t port);

}  // namespace zdd
