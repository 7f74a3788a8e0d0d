#include "runner/port_owner.hpp"

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>

namespace zdd {

std::optional<pid_t> listener_pid(uint16_t port) {
    std::set<uint64_t> inodes;
    for (const auto& l : drainmon::listeners(port)) inodes.insert(l.inode);
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
