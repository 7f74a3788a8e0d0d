#include "runner/port_owner.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <system_error>

namespace zdd {

namespace {

// Inodes of LISTEN sockets on `port` from /proc/net/tcp and tcp6 (state 0A).
std::set<unsigned long> listen_inodes(uint16_t port) {
    std::set<unsigned long> out;
    for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream f(file);
        std::string line;
        std::getline(f, line);  // header
        while (std::getline(f, line)) {
            std::istringstream in(line);
            std::string sl, local, remote, state, queues, timer, retr, uid, timeout;
            unsigned long inode = 0;
            if (!(in >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >>
                  timeout >> inode))
                continue;
            auto colon = local.rfind(':');
            if (colon == std::string::npos || state != "0A") continue;
            if (std::strtoul(local.c_str() + colon + 1, nullptr, 16) != port) continue;
            out.insert(inode);
        }
    }
    return out;
}

}  // namespace

bool port_listening(uint16_t port) {
    return !listen_inodes(port).empty();
}

std::optional<pid_t> listener_pid(uint16_t port) {
    auto inodes = listen_inodes(port);
    if (inodes.empty()) return std::nullopt;
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& proc : fs::directory_iterator("/proc", ec)) {
        const std::string name = proc.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::error_code fec;
        for (const auto& fd : fs::directory_iterator(proc.path() / "fd", fec)) {
            std::error_code lec;
            auto target = fs::read_symlink(fd.path(), lec).string();
            if (lec || target.rfind("socket:[", 0) != 0) continue;
            unsigned long inode = std::strtoul(target.c_str() + 8, nullptr, 10);
            if (inodes.count(inode)) return static_cast<pid_t>(std::stol(name));
        }
    }
    return std::nullopt;
}

}  // namespace zdd
