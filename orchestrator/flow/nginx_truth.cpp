#include "flow/nginx_truth.hpp"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "runner/proc.hpp"

namespace zdd {

std::optional<std::set<Color>> upstream_colors(const Context& ctx) {
    try {
        auto text = ctx.upstream.read();
        if (!text) return std::nullopt;
        std::set<Color> out;
        for (const auto& s : parse_upstream(*text, ctx.cfg.upstream_name).servers)
            for (Color c : kColors)
                if (s.port == ctx.port(c)) out.insert(c);
        return out;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

namespace {

// Seconds since boot (CLOCK_BOOTTIME, the clock of /proc/<pid>/stat's start time) at which the
// upstream file was last written; nullopt when it cannot be read.
std::optional<double> file_written_since_boot(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return std::nullopt;
    timespec real{}, boot{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    auto secs = [](const timespec& t) { return t.tv_sec + t.tv_nsec / 1e9; };
    return secs(st.st_mtim) - (secs(real) - secs(boot));
}

}  // namespace

std::optional<std::set<Color>> served_colors(const Context& ctx) {
    auto listed = upstream_colors(ctx);
    auto written = file_written_since_boot(ctx.upstream.path());
    if (!listed || !written) return std::nullopt;
    try {
        const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
        std::vector<pid_t> old;
        for (const auto& w : ctx.nginx.shutting_down_workers()) old.push_back(w.pid);
        double newest = -1;
        for (pid_t pid : ctx.nginx.worker_pids()) {
            if (std::find(old.begin(), old.end(), pid) != old.end()) continue;
            if (auto st = read_proc_stat(pid))
                newest = std::max(newest, static_cast<double>(st->start_time) / hz);
        }
        // start_time counts whole clock ticks: allow one.
        if (newest < 0 || newest + 1.0 / hz < *written) return std::nullopt;
        return listed;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string reconcile_with_nginx(Context& ctx) {
    State& s = ctx.state;
    if (!s.deploy || !s.deploy->phase() || *s.deploy->phase() == Phase::done) return "";
    if (*s.deploy->phase() < Phase::shifting) return "";
    const Color to = s.deploy->to;
    if (s.active == to) return "";
    auto listed = served_colors(ctx);
    if (!listed || !listed->count(to)) return "";
    const std::string was = s.active ? to_string(*s.active) : std::string("none");
    s.active = to;
    if (s.deploy->from && *s.deploy->from != to && !s.draining) s.draining = s.deploy->from;
    const std::string note = "nginx (running " + ctx.upstream.path().string() + ") sends " +
                             to_string(to) + " traffic but state.json said active " + was +
                             " (the " + to_string(*s.deploy->phase()) +
                             " step failed after its reload): " + to_string(to) + " is active" +
                             (s.draining ? ", " + to_string(*s.draining) + " draining" : "");
    if (s.last_error.empty()) s.last_error = note;
    return note;
}

std::optional<Color> unfinished_old(const State& s) {
    if (s.draining) return s.draining;
    if (!s.deploy || !s.deploy->from || !s.deploy->phase()) return std::nullopt;
    const Phase p = *s.deploy->phase();
    if (p < Phase::shifting || p == Phase::done || s.active != s.deploy->to) return std::nullopt;
    return s.deploy->from;
}

bool candidate_never_served(const State& s) {
    const auto& d = s.deploy;
    return d && s.active && d->to != *s.active && d->phase() && *d->phase() != Phase::done;
}

}  // namespace zdd
