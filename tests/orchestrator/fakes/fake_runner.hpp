// A fake InstanceRunner: instances are entries in a map; start and every signal go to the
// journal ("start green", "signal blue SIGTERM"). An instance exits on the first signal not
// in `ignores`, or never when it is in `survivors`.
#pragma once

#include <signal.h>

#include <cstring>
#include <map>
#include <set>

#include "fakes/journal.hpp"
#include "runner/instance_runner.hpp"

namespace zdd_fake {

class FakeRunner : public zdd::InstanceRunner {
  public:
    explicit FakeRunner(Journal& j) : journal_(j) {}

    std::map<zdd::Color, zdd::ProcessRef> running;  // alive instances
    std::set<int> ignores;                          // signals an instance does not exit on
    bool start_fails = false;
    std::vector<zdd::LaunchSpec> starts;  // every start asked for
    int next_pid = 4000;

    // An instance that runs as if started earlier (returned for the state record).
    zdd::ProcessRef run(zdd::Color c) {
        zdd::ProcessRef p{next_pid++, 77};
        running[c] = p;
        return p;
    }

    std::string name() const override { return "fake"; }
    zdd::ProcessRef start(const zdd::LaunchSpec& spec) override {
        journal_.add("start " + zdd::to_string(spec.color));
        starts.push_back(spec);
        if (start_fails) throw zdd::RunnerError("exec failed (fake)");
        return run(spec.color);
    }
    bool alive(zdd::Color c, const zdd::ProcessRef& p) override {
        auto it = running.find(c);
        return it != running.end() && it->second.pid == p.pid;
    }
    bool signal(zdd::Color c, const zdd::ProcessRef& p, int sig) override {
        journal_.add("signal " + zdd::to_string(c) + " SIG" + sigabbrev_np(sig));
        if (!alive(c, p)) return false;
        if (!ignores.count(sig)) running.erase(c);
        return true;
    }
    bool wait_exit(zdd::Color c, const zdd::ProcessRef& p, std::chrono::milliseconds) override {
        return !alive(c, p);
    }
    std::optional<std::string> root_warning(const zdd::LaunchSpec&) override {
        return std::nullopt;
    }

  private:
    Journal& journal_;
};

}  // namespace zdd_fake
