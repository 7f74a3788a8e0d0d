// Where the drain step gets its connection monitor: the host loads libdrainmon's backend
// (BPF, else sock_diag); unit tests of the flows pass a fake drainmon::Backend, which the real
// drain wait (gate/drain_wait.hpp) then reads.
#pragma once

#include <memory>
#include <string>

#include "monitor/backend.hpp"

namespace zdd {

class MonitorFactory {
  public:
    virtual ~MonitorFactory() = default;
    // `note` receives the one-line reason for a fallback. Throws on failure.
    virtual std::unique_ptr<drainmon::Backend> open(const drainmon::BackendOptions& opts,
                                                    std::string* note) = 0;
};

}  // namespace zdd
