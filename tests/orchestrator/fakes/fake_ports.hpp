// A fake PortProbe: the ports said to be listening, and who listens.
#pragma once

#include <map>
#include <set>

#include "runner/port_probe.hpp"

namespace zdd_fake {

class FakePorts : public zdd::PortProbe {
  public:
    std::set<uint16_t> listening_ports;
    std::map<uint16_t, zdd::ProcessRef> owners;

    bool listening(uint16_t port) override { return listening_ports.count(port) > 0; }
    std::optional<zdd::ProcessRef> listener(uint16_t port) override {
        auto it = owners.find(port);
        if (it == owners.end()) return std::nullopt;
        return it->second;
    }
};

}  // namespace zdd_fake
