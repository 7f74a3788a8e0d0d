// A fake connection monitor: a drainmon::Backend whose port holds `connections[i]`
// ESTABLISHED sockets, all active, at its i-th counts() read (the last value repeats), so the
// real drain wait (gate/drain_wait.hpp) runs on it. `on_count` runs before each read (a test
// raises a signal there, mid-drain). FakeMonitors hands out backends sharing one script.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "fakes/journal.hpp"
#include "flow/monitor_factory.hpp"

namespace zdd_fake {

struct MonitorScript {
    std::vector<int64_t> connections{0};
    int64_t listeners = 1;
    std::function<void(int)> on_count;  // called with the read's index
    int reads = 0;
    int opened = 0;
    bool open_fails = false;

    int64_t now() const {
        const size_t i = static_cast<size_t>(reads);
        return i < connections.size() ? connections[i] : connections.back();
    }
};

class FakeBackend : public drainmon::Backend {
  public:
    FakeBackend(MonitorScript& s, Journal& j) : s_(s), journal_(j) {}

    std::string name() const override { return "fake"; }
    void watch(uint16_t port) override {
        if (watched_.insert(port).second) journal_.add("monitor watch " + std::to_string(port));
    }
    drainmon::Snapshot snapshot(
        const std::vector<uint16_t>& ports,
        const std::vector<std::pair<drainmon::Endpoint, drainmon::Endpoint>>& = {}) override {
        drainmon::Snapshot out;
        out.backend = name();
        for (uint16_t port : ports) {
            drainmon::PortCounts pc;
            pc.port = port;
            pc.listeners = s_.listeners;
            const int64_t n = s_.now();
            pc.established = n;
            for (int64_t i = 0; i < n; ++i) {
                drainmon::SocketSample ss;
                ss.local = {AF_INET, "127.0.0.1", port};
                ss.remote = {AF_INET, "127.0.0.1", static_cast<uint16_t>(50000 + i)};
                ss.in.state = ZDD_TCP_ESTABLISHED;
                ss.verdict.cls = ZDD_CLASS_ACTIVE;
                out.sockets.push_back(ss);
            }
            out.ports.push_back(pc);
        }
        ++walks_;
        drainmon::tally_classes(out);
        return out;
    }
    drainmon::PortCounts counts(uint16_t port) override {
        if (s_.on_count) s_.on_count(s_.reads);
        drainmon::PortCounts pc;
        pc.port = port;
        pc.listeners = s_.listeners;
        pc.established = s_.now();
        ++s_.reads;
        return pc;
    }
    // A close event every few milliseconds: the wait re-reads the counts.
    bool wait_close(std::chrono::milliseconds timeout) override {
        std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(5)));
        return true;
    }

  private:
    MonitorScript& s_;
    Journal& journal_;
    std::set<uint16_t> watched_;
};

class FakeMonitors : public zdd::MonitorFactory {
  public:
    FakeMonitors(MonitorScript& s, Journal& j) : s_(s), journal_(j) {}
    std::unique_ptr<drainmon::Backend> open(const drainmon::BackendOptions&,
                                            std::string* note) override {
        if (s_.open_fails) throw drainmon::BackendError("no monitor (fake)");
        ++s_.opened;
        if (note) note->clear();
        return std::make_unique<FakeBackend>(s_, journal_);
    }

  private:
    MonitorScript& s_;
    Journal& journal_;
};

}  // namespace zdd_fake
