// zdd's own command-line parsing: the input, split at NUL bytes, is argv after "zdd" and goes
// through add_options + CLI11's parse + finalize exactly as zdd_main does (no environment, no
// config file). Either the result holds every invariant finalize promises (valid ports, every
// duration in range, a state dir), or it is a CLI11 ParseError or a one-line ConfigError.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/duration.hpp"
#include "core/config.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::string> args{"zdd"};
    std::string cur;
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == 0) {
            args.push_back(cur);
            cur.clear();
        } else {
            cur += static_cast<char>(data[i]);
        }
    }
    if (!cur.empty()) args.push_back(cur);
    for (const auto& a : args)  // a file named by the input would be read: not this target's job
        if (a.rfind("--config", 0) == 0) return 0;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());

    CLI::App app{"zdd"};
    zdd::Config cfg;
    zdd::add_options(app, cfg);
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
        zdd::finalize(
            app, cfg, [](const std::string&) { return std::optional<std::string>(); }, "");
    } catch (const CLI::ParseError&) {
        return 0;
    } catch (const zdd::ConfigError& e) {
        zdd_fuzz::require_one_line(e.what());
        return 0;
    }
    if (cfg.ports[0] == 0 || cfg.ports[1] == 0 || cfg.ports[0] == cfg.ports[1])
        zdd_fuzz::broken("invalid ports accepted:", cfg.ports_text);
    for (double d : {cfg.drain_timeout, cfg.health_timeout, cfg.idle_after, cfg.push_gap,
                     cfg.stuck_after, cfg.app_poll, cfg.min_drain, cfg.shift_hold})
        if (!std::isfinite(d) || d < 0 || d > drainmon::kMaxDurationSeconds)
            zdd_fuzz::broken("a duration out of range accepted:", std::to_string(d));
    if (cfg.health_timeout == 0 || cfg.app_poll == 0) zdd_fuzz::broken("a zero interval accepted");
    if (cfg.state_dir.empty()) zdd_fuzz::broken("no state dir derived");
    return 0;
}
