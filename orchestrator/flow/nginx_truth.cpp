#include "flow/nginx_truth.hpp"

namespace zdd {

std::optional<std::set<Color>> upstream_colors(const Context& ctx) {
    try {
        auto text = ctx.nginx.read_upstream();
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

std::optional<std::set<Color>> served_colors(const Context& ctx) {
    auto listed = upstream_colors(ctx);
    if (!listed || !ctx.nginx.runs_upstream_file()) return std::nullopt;
    return listed;
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
    const std::string note = "nginx (running " + ctx.nginx.upstream_path().string() + ") sends " +
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
