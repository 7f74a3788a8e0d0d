// The --config file: the bytes are written to a file and go through add_options + finalize
// exactly as `zdd --config FILE` does (no environment). Accepted, or ConfigError with one line;
// a CLI11 exception escaping finalize would be an unexplained failure for the operator.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/config.hpp"
#include "fuzz_check.hpp"

namespace {

// One file per fuzzing process, rewritten for every input and removed at exit.
struct ConfigPath {
    std::string path = "/tmp/zdd-fuzz-config-" + std::to_string(::getpid()) + ".toml";
    ~ConfigPath() { ::unlink(path.c_str()); }
};

const std::string& config_path() {
    static const ConfigPath p;
    return p.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = config_path();
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (!f) zdd_fuzz::broken("cannot write", path);
        if (size && std::fwrite(data, 1, size, f) != size) zdd_fuzz::broken("short write", path);
        std::fclose(f);
    }
    CLI::App app{"zdd"};
    zdd::Config cfg;
    zdd::add_options(app, cfg);
    std::string arg0 = "zdd", flag = "--config", file = path;
    char* argv[] = {arg0.data(), flag.data(), file.data(), nullptr};
    app.parse(3, argv);
    try {
        zdd::finalize(app, cfg, [](const std::string&) { return std::optional<std::string>(); });
        if (cfg.ports[0] == cfg.ports[1] || cfg.ports[0] == 0)
            zdd_fuzz::broken("invalid ports accepted:", cfg.ports_text);
        if (cfg.state_dir.empty()) zdd_fuzz::broken("no state dir derived");
    } catch (const zdd::ConfigError& e) {
        zdd_fuzz::require_one_line(e.what());
    }
    return 0;
}
