// One ordered record of what the fakes were asked to do ("nginx green:100 blue:1", "signal
// blue SIGTERM", ...), so a test asserts the order across nginx, the runner and the monitor.
#pragma once

#include <string>
#include <vector>

namespace zdd_fake {

struct Journal {
    std::vector<std::string> lines;
    void add(std::string line) { lines.push_back(std::move(line)); }
};

}  // namespace zdd_fake
