// --metrics-textfile: the deploy as Prometheus text for node_exporter's textfile collector,
// rewritten atomically at each phase change and progress tick: the phase, the deploy's start
// time, the drain's seconds, connections by class and streams handed off (--handoff), the
// connections a timeout cut, the last exit code, and the nginx workers still shutting down
// (with the age of the oldest).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/color.hpp"
#include "core/outcome.hpp"
#include "gate/drain_gate.hpp"
#include "nginx/nginx_controller.hpp"
#include "state/state_store.hpp"

namespace zdd {

class DeployMetrics {
  public:
    // An empty path disables every write. The last exit code is read back from the file.
    DeployMetrics(std::string path, std::string service, const NginxController& nginx);

    bool enabled() const { return !path_.empty(); }
    void on_phase(const State& s);
    void on_drain(Color c, double seconds, const drainmon::GateFigures& f);
    void on_cut(int64_t connections);
    // The command's outcome (written as its exit code), with the phase it left in `s` (a drain
    // figure survives only while that phase is draining or stopping).
    void on_result(Outcome outcome, const State& s);

    // The text as written (for tests and `zdd status`), without writing it.
    std::string render() const;

  private:
    void write();

    std::string path_, service_;
    const NginxController& nginx_;
    std::optional<Phase> phase_;
    double start_time_ = 0;
    std::optional<Color> drain_color_;
    double drain_s_ = 0;
    drainmon::GateFigures figures_;
    int64_t cut_ = 0;
    std::optional<int> last_code_;
};

}  // namespace zdd
