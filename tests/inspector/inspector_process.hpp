// The built drain-inspector run as a real process, its stdout and stderr captured in files.
#pragma once

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "test_support.hpp"

namespace zdd_test {

inline std::string inspector_path() {
    return build_dir() + "/userspace/drain-inspector";
}

class InspectorProcess {
  public:
    explicit InspectorProcess(const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env = {})
        : proc_(argv(args), env, dir_.file("out"), dir_.file("err")) {}

    // Exit status (or 128+signal), -1 if still running after `timeout`.
    int wait(std::chrono::milliseconds timeout) { return proc_.wait(timeout); }
    bool running() { return proc_.running(); }
    void signal(int sig) const { proc_.signal(sig); }
    std::string out() const { return read_file(dir_.file("out")); }
    std::string err() const { return read_file(dir_.file("err")); }

  private:
    static std::vector<std::string> argv(const std::vector<std::string>& args) {
        std::vector<std::string> v{inspector_path()};
        v.insert(v.end(), args.begin(), args.end());
        return v;
    }
    TempDir dir_;  // declared first: outlives the process
    Subprocess proc_;
};

struct RunResult {
    int status = -1;
    std::string out, err;
};

// Runs to completion (or kills it after `timeout`, status -1).
inline RunResult run_inspector(const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30),
                               const std::map<std::string, std::string>& env = {}) {
    InspectorProcess p(args, env);
    RunResult r;
    r.status = p.wait(timeout);
    r.out = p.out();
    r.err = p.err();
    return r;
}

inline int count_lines(const std::string& s) {
    int n = 0;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) ++n;
    return n;
}

}  // namespace zdd_test
