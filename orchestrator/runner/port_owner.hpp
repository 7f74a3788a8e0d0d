// Who listens on a local TCP port, read from /proc (this network namespace): used to adopt a
// host run by the original script (its instance's pid was never recorded) and to refuse a
// start on a busy port without opening a connection to it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace zdd {

// True when a LISTEN socket (IPv4 or IPv6) has local port `port`.
bool port_listening(uint16_t port);
// The process holding that LISTEN socket, when one can be found.
std::optional<pid_t> listener_pid(uint16_t port);

}  // namespace zdd
