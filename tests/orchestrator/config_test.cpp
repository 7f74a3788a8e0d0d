#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "core/config.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace zdd;
using Env = std::map<std::string, std::string>;

namespace {

// Parses argv like the zdd main will: add_options, parse, finalize.
Config parse(std::vector<std::string> args, const Env& env = {}) {
    CLI::App app("zdd");
    Config cfg;
    add_options(app, cfg);
    std::vector<const char*> argv{"zdd"};
    for (auto& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    finalize(app, cfg, [&](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
    });
    return cfg;
}

}  // namespace

TEST_CASE("defaults mirror the original script") {
    Config c = parse({});
    CHECK(c.service == "vibe-manager");
    CHECK(c.ports == std::array<uint16_t, 2>{8080, 8081});
    CHECK(c.upstream_file == "/etc/nginx/conf.d/vibe-upstream.conf");
    CHECK(c.token_file == "/opt/vibe-manager/config/deployment.env");
    CHECK(c.status_file == "/var/run/vibe-manager-deployment.status");
    CHECK(c.drain_timeout == 120);
    CHECK(c.keep_releases == 5);
    CHECK(c.runner == "exec");
    CHECK(c.upstream_name == "vibe_backend");
    CHECK(c.state_dir == "/var/lib/zdd/vibe-manager");
    CHECK(parse({"--service", "api"}).state_dir == "/var/lib/zdd/api");
}

TEST_CASE("precedence: flag > env > config file > default") {
    zdd_test::TempDir d;
    auto file = (d / "zdd.conf").string();
    zdd_test::write_text(file,
                         "# zdd config\ndrain-timeout=2\nports=9000,9001\nstrict=true\n"
                         "health_timeout=7.5\nservice=\"from-file\"\n");

    // drain-timeout across the four sources
    CHECK(parse({}).drain_timeout == 120);                // default
    CHECK(parse({"--config", file}).drain_timeout == 2);  // file > default
    CHECK(parse({"--config", file}, {{"DRAIN_TIMEOUT", "0"}}).drain_timeout == 0);  // env > file
    CHECK(parse({}, {{"DRAIN_TIMEOUT", "45"}}).drain_timeout == 45);                // env > default
    CHECK(
        parse({"--config", file, "--drain-timeout", "9"}, {{"DRAIN_TIMEOUT", "0"}}).drain_timeout ==
        9);                                                     // flag > env
    CHECK(parse({"--drain-timeout", "3"}).drain_timeout == 3);  // flag > default

    // other options: ZDD_* env names
    Config c = parse({"--config", file});
    CHECK(c.ports == std::array<uint16_t, 2>{9000, 9001});
    CHECK(c.strict);
    CHECK(c.health_timeout == 7.5);
    CHECK(c.service == "from-file");
    CHECK(c.state_dir == "/var/lib/zdd/from-file");
    Config e = parse({"--config", file}, {{"ZDD_PORTS", "7000,7001"}, {"ZDD_STRICT", "false"}});
    CHECK(e.ports == std::array<uint16_t, 2>{7000, 7001});
    CHECK_FALSE(e.strict);
    Config f = parse({"--config", file, "--ports", "6000,6001"}, {{"ZDD_PORTS", "7000,7001"}});
    CHECK(f.ports == std::array<uint16_t, 2>{6000, 6001});
    // an empty env variable counts as unset
    CHECK(parse({"--config", file}, {{"DRAIN_TIMEOUT", ""}}).drain_timeout == 2);
    // the config file itself may come from ZDD_CONFIG
    CHECK(parse({}, {{"ZDD_CONFIG", file}}).drain_timeout == 2);
}

TEST_CASE("durations are seconds with decimals") {
    Config c = parse({"--drain-timeout", "1.25", "--idle-after", "0.5"});
    CHECK(to_ms(c.drain_timeout) == std::chrono::milliseconds(1250));
    CHECK(to_ms(c.idle_after) == std::chrono::milliseconds(500));
    CHECK(parse({}, {{"DRAIN_TIMEOUT", "0.75"}}).drain_timeout == 0.75);
}

TEST_CASE("invalid values give one clear ConfigError") {
    auto msg = [](std::vector<std::string> args, const Env& env = {}) -> std::string {
        try {
            parse(std::move(args), env);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "(no error)";
    };
    CHECK_THAT(msg({"--ports", "8080"}), Catch::Contains("exactly two ports"));
    CHECK_THAT(msg({"--ports", "8080,8080"}), Catch::Contains("different ports"));
    CHECK_THAT(msg({"--ports", "8080,70000"}), Catch::Contains("not a port"));
    CHECK_THAT(msg({"--ports", "a,b"}), Catch::Contains("not a port"));
    CHECK_THAT(msg({"--drain-timeout", "-1"}), Catch::Contains("--drain-timeout"));
    CHECK_THAT(msg({"--health-timeout", "0"}), Catch::Contains("--health-timeout"));
    CHECK_THAT(msg({}, {{"DRAIN_TIMEOUT", "soon"}}), Catch::Contains("environment DRAIN_TIMEOUT"));
    CHECK_THAT(msg({}, {{"ZDD_RUNNER", "docker"}}), Catch::Contains("--runner"));
    CHECK_THAT(msg({"--service", "a b"}), Catch::Contains("--service"));
    CHECK_THAT(msg({"--keep-releases", "0"}), Catch::Contains("--keep-releases"));

    zdd_test::TempDir d;
    zdd_test::write_text(d / "bad.conf", "drain-timeout=2\nno-such-option=1\n");
    CHECK_THAT(msg({"--config", (d / "bad.conf").string()}),
               Catch::Contains("unknown option 'no-such-option'"));
    zdd_test::write_text(d / "badval.conf", "keep-releases=many\n");
    CHECK_THAT(msg({"--config", (d / "badval.conf").string()}), Catch::Contains("--keep-releases"));
    CHECK_THAT(msg({"--config", (d / "missing.conf").string()}), Catch::Contains("does not exist"));
}

TEST_CASE("a flag on the command line is not overridden by env or file") {
    zdd_test::TempDir d;
    zdd_test::write_text(d / "z.conf", "strict=false\nidle-ok=false\n");
    Config c = parse({"--config", (d / "z.conf").string(), "--strict"}, {{"ZDD_STRICT", "false"}});
    CHECK(c.strict);
    CHECK_FALSE(c.idle_ok);
}

TEST_CASE("env names") {
    CHECK(env_name_for("drain-timeout") == "DRAIN_TIMEOUT");
    CHECK(env_name_for("state-dir") == "ZDD_STATE_DIR");
}

TEST_CASE("--config wins over ZDD_CONFIG; ZDD_CONFIG is read only without --config") {
    zdd_test::TempDir d;
    const auto a = (d / "a.conf").string(), b = (d / "b.conf").string();
    zdd_test::write_text(a, "drain-timeout=2\nports=9000,9001\n");
    zdd_test::write_text(b, "drain-timeout=3\nkeep-releases=4\n");

    Config flag = parse({"--config", a}, {{"ZDD_CONFIG", b}});
    CHECK(flag.config_file == a);
    CHECK(flag.drain_timeout == 2);
    CHECK(flag.ports == std::array<uint16_t, 2>{9000, 9001});
    CHECK(flag.keep_releases == 5);  // b's value is not read at all: the default

    Config env = parse({}, {{"ZDD_CONFIG", b}});
    CHECK(env.config_file == b);
    CHECK(env.drain_timeout == 3);
    CHECK(env.keep_releases == 4);
    CHECK(env.ports == std::array<uint16_t, 2>{8080, 8081});

    // The other sources keep their order over whichever file was chosen.
    CHECK(parse({"--config", a}, {{"ZDD_CONFIG", b}, {"DRAIN_TIMEOUT", "7"}}).drain_timeout == 7);
    // An empty ZDD_CONFIG is unset: no file.
    CHECK(parse({}, {{"ZDD_CONFIG", ""}}).config_file.empty());
}

TEST_CASE("the zdd binary reads ZDD_CONFIG from its environment, and --config overrides it") {
    zdd_test::TempDir d;
    const auto good = (d / "good.conf").string(), bad = (d / "bad.conf").string();
    zdd_test::write_text(good, "state-dir=" + (d / "state").string() + "\n");
    zdd_test::write_text(bad, "no-such-option=1\n");
    const std::string zdd = zdd_test::build_dir() + "/orchestrator/zdd";
    auto run = [&](const std::vector<std::string>& args, const std::string& env) {
        zdd_test::Subprocess p(
            [&] {
                std::vector<std::string> argv{zdd, "status"};
                argv.insert(argv.end(), args.begin(), args.end());
                return argv;
            }(),
            {{"ZDD_CONFIG", env}}, d.file("out"), d.file("err"));
        const int status = p.wait(std::chrono::seconds(30));
        return std::make_pair(status, zdd_test::read_text(d / "err"));
    };
    auto [env_status, env_err] = run({}, bad);
    INFO(env_err);
    CHECK(env_status != 0);
    CHECK_THAT(env_err,
               Catch::Contains("unknown option 'no-such-option'") && Catch::Contains("bad.conf"));
    auto [flag_status, flag_err] = run({"--config", good}, bad);
    INFO(flag_err);
    CHECK(flag_err.find("no-such-option") == std::string::npos);
    CHECK(flag_err.find("bad.conf") == std::string::npos);
}
