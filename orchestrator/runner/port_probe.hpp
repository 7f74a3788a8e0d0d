// Who listens on a TCP port of this host: how zdd tells that an instance it has no pid for
// (adopted from the original script) runs, and that a port is free before it starts one.
// The host's answer comes from port_owner.hpp; unit tests of the flows pass a fake.
#pragma once

#include <cstdint>
#include <optional>

#include "runner/instance_runner.hpp"

namespace zdd {

class PortProbe {
  public:
    virtual ~PortProbe() = default;
    virtual bool listening(uint16_t port) = 0;
    // The process listening on the port, when one can be named.
    virtual std::optional<ProcessRef> listener(uint16_t port) = 0;
};

}  // namespace zdd
