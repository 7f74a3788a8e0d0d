#include "runner/proc.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <string>

#include "state/atomic_file.hpp"

namespace zdd {

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
    // "pid (comm) state ppid ..." -- comm ends at the LAST ')'.
    auto open = line.find('(');
    auto close = line.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return std::nullopt;
    ProcStat st;
    std::string_view head = line.substr(0, open);
    while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
    if (std::from_chars(head.data(), head.data() + head.size(), st.pid).ec != std::errc())
        return std::nullopt;
    // Fields after comm start at field 3 (state).
    std::vector<std::string_view> f;
    std::string_view rest = line.substr(close + 1);
    std::size_t i = 0;
    while (i < rest.size() && f.size() < 20) {
        while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
        std::size_t j = i;
        while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
        if (j > i) f.push_back(rest.substr(i, j - i));
        i = j;
    }
    if (f.size() < 20) return std::nullopt;  // f[0] = field 3, f[19] = field 22
    if (f[0].size() != 1) return std::nullopt;
    st.state = f[0][0];
    if (std::from_chars(f[1].data(), f[1].data() + f[1].size(), st.ppid).ec != std::errc())
        return std::nullopt;
    if (std::from_chars(f[19].data(), f[19].data() + f[19].size(), st.start_time).ec != std::errc())
        return std::nullopt;
    return st;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
    if (pid <= 0) return std::nullopt;
    try {
        auto text = read_file_if_exists("/proc/" + std::to_string(pid) + "/stat", 4096);
        if (!text) return std::nullopt;
        return parse_proc_stat(*text);
    } catch (const FileError&) {
        return std::nullopt;  // the process vanished between open and read
    }
}

std::vector<pid_t> child_pids(pid_t parent) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = e.path().filename().string();
        pid_t pid = 0;
        if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc())
            continue;
        auto st = read_proc_stat(pid);
        if (st && st->ppid == parent && st->state != 'Z') out.push_back(pid);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace zdd
