#include "monitor/listening_ports.hpp"

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace drainmon {

namespace {

constexpr const char* kListenState = "0A";  // TCP_LISTEN in /proc/net/tcp's hex "st" column

void read_table(const char* path, std::set<uint16_t>& out) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        if (!(fields >> slot >> local >> remote >> state) || state != kListenState) continue;
        auto colon = local.rfind(':');
        if (colon == std::string::npos) continue;
        out.insert(static_cast<uint16_t>(std::stoul(local.substr(colon + 1), nullptr, 16)));
    }
}

}  // namespace

std::vector<uint16_t> listening_ports() {
    std::set<uint16_t> ports;
    read_table("/proc/self/net/tcp", ports);
    read_table("/proc/self/net/tcp6", ports);
    return {ports.begin(), ports.end()};
}

}  // namespace drainmon
