// /proc readers: a process's identity (pid + start time) and its children. A pid alone can be
// reused by an unrelated process; (pid, start time) cannot.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace zdd {

struct ProcStat {
    pid_t pid = 0;
    char state = '?';  // R, S, D, Z, T, ...
    pid_t ppid = 0;
    uint64_t start_time = 0;  // field 22: clock ticks since boot
};

// Parses one /proc/<pid>/stat line (comm may hold spaces and parentheses). nullopt if malformed.
std::optional<ProcStat> parse_proc_stat(std::string_view line);
// nullopt when the process does not exist (or its stat cannot be read).
std::optional<ProcStat> read_proc_stat(pid_t pid);
// Live (non-zombie) processes whose parent is `parent`, found by scanning /proc/*/stat
// (this kernel has no /proc/<pid>/task/<tid>/children). Sorted.
std::vector<pid_t> child_pids(pid_t parent);

}  // namespace zdd
