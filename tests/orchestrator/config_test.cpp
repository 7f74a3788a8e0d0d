#include <sys/stat.h>
#include <unistd.h>

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
// `default_file`: the config read when none is named ("" in most tests: the host's
// /etc/zdd/zdd.conf must not change them).
Config parse(std::vector<std::string> args, const Env& env = {},
             const std::string& default_file = "") {
    CLI::App app("zdd");
    Config cfg;
    add_options(app, cfg);
    std::vector<const char*> argv{"zdd"};
    for (auto& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    finalize(
        app, cfg,
        [&](const std::string& name) -> std::optional<std::string> {
            auto it = env.find(name);
            if (it == env.end()) return std::nullopt;
            return it->second;
        },
        default_file);
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
    CHECK_FALSE(c.handoff);
}

TEST_CASE("--handoff: flag, ZDD_HANDOFF and the config key handoff") {
    zdd_test::TempDir d;
    CHECK(parse({"--handoff"}).handoff);
    CHECK(parse({}, {{"ZDD_HANDOFF", "1"}}).handoff);
    CHECK_FALSE(parse({}, {{"ZDD_HANDOFF", "0"}}).handoff);
    zdd_test::write_text(d / "on.conf", "handoff = true\n");
    CHECK(parse({"--config", (d / "on.conf").string()}).handoff);
    // The environment beats the file.
    CHECK_FALSE(parse({"--config", (d / "on.conf").string()}, {{"ZDD_HANDOFF", "false"}}).handoff);
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

TEST_CASE("the default config file: read when it exists and nothing else is named") {
    zdd_test::TempDir d;
    const auto def = (d / "zdd.conf").string(), other = (d / "other.conf").string();
    zdd_test::write_text(def, "drain-timeout=9\n");
    zdd_test::write_text(other, "drain-timeout=4\n");
    REQUIRE(::chmod(def.c_str(), 0644) == 0);

    Config c = parse({}, {}, def);
    CHECK(c.config_file == def);
    CHECK(c.drain_timeout == 9);
    // A named file replaces it (it is not read as well); none reads no file.
    CHECK(parse({"--config", other}, {}, def).drain_timeout == 4);
    CHECK(parse({}, {{"ZDD_CONFIG", other}}, def).drain_timeout == 4);
    Config none = parse({"--config", "none"}, {}, def);
    CHECK(none.config_file.empty());
    CHECK(none.drain_timeout == 120);
    CHECK(parse({}, {{"ZDD_CONFIG", "none"}}, def).drain_timeout == 120);
    // Absent: the built-in defaults.
    Config absent = parse({}, {}, (d / "absent.conf").string());
    CHECK(absent.config_file.empty());
    CHECK(absent.drain_timeout == 120);
}

TEST_CASE("the default config file is refused when others could have written it") {
    zdd_test::TempDir d;
    const auto def = (d / "zdd.conf").string();
    zdd_test::write_text(def, "nginx-bin=/tmp/evil\n");
    auto error_of = [&] {
        try {
            parse({}, {}, def);
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    REQUIRE(::chmod(def.c_str(), 0666) == 0);
    std::string msg = error_of();
    CHECK_THAT(msg, Catch::Contains(def) && Catch::Contains("writable by group or others") &&
                        Catch::Contains("--config none"));
    CHECK(msg.find("/tmp/evil") == std::string::npos);  // never the value
    REQUIRE(::chmod(def.c_str(), 0644) == 0);
    if (::geteuid() == 0) {  // owning a file as another uid needs root
        REQUIRE(::chown(def.c_str(), 65534, 65534) == 0);
        CHECK_THAT(error_of(), Catch::Contains("owned by uid 65534"));
        REQUIRE(::chown(def.c_str(), 0, 0) == 0);
    }
    CHECK(error_of() == "(no error)");
    // A named file is the operator's choice, read as it is (as before).
    REQUIRE(::chmod(def.c_str(), 0666) == 0);
    CHECK(parse({"--config", def}, {}, "").nginx_bin == "/tmp/evil");
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

namespace {

std::string config_error(std::vector<std::string> args, const Env& env = {}) {
    try {
        parse(std::move(args), env);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("durations have one range: 1e10, 9.3e9, nan, inf and negatives are refused") {
    for (const char* v : {"1e10", "9.3e9", "inf"}) {
        INFO(v);
        CHECK_THAT(config_error({}, {{"DRAIN_TIMEOUT", v}}),
                   Catch::Contains("environment DRAIN_TIMEOUT") &&
                       Catch::Contains("out of range") && Catch::Contains("use 0 for forever"));
        CHECK_THAT(config_error({"--drain-timeout", v}), Catch::Contains("use 0 for forever"));
        CHECK_THAT(config_error({"--health-timeout", v}),
                   Catch::Contains("--health-timeout") && !Catch::Contains("forever"));
    }
    CHECK_THAT(config_error({"--drain-timeout", "nan"}), Catch::Contains("not a number"));
    CHECK_THAT(config_error({"--drain-timeout", "-1"}), Catch::Contains("negative"));
    CHECK_THAT(config_error({}, {{"DRAIN_TIMEOUT", "-0.5"}}), Catch::Contains("negative"));
    // Thresholds end up as 32-bit milliseconds: beyond the range they are refused, not cut.
    CHECK_THAT(config_error({"--stuck-after", "4294968"}), Catch::Contains("--stuck-after"));
    CHECK_THAT(config_error({"--idle-after", "1e10"}), Catch::Contains("--idle-after"));
    CHECK(parse({"--stuck-after", "2592000"}).stuck_after == 2592000);
    CHECK(parse({}, {{"DRAIN_TIMEOUT", "0"}}).drain_timeout == 0);

    zdd_test::TempDir d;
    zdd_test::write_text(d / "z.conf", "# comment\n\napp-poll = nan\n");
    CHECK_THAT(config_error({"--config", (d / "z.conf").string()}),
               Catch::Contains("z.conf line 3") && Catch::Contains("--app-poll") &&
                   Catch::Contains("not a number"));

    // The zdd binary: exit 2 and one line, before anything runs (drain takes --drain-timeout).
    int status = 0;
    auto out = zdd_test::run_capture(
        "DRAIN_TIMEOUT=1e10 " + zdd_test::build_dir() + "/orchestrator/zdd drain 2>&1", &status);
    CHECK(status == 2);
    CHECK_THAT(out, Catch::Contains("use 0 for forever"));
}

TEST_CASE("config errors name the file, line and key, never a value") {
    zdd_test::TempDir d;
    const std::string secret = "s3cr3t-t0ken-value-4242";
    auto check_no_leak = [&](const std::string& text, const std::string& expect) {
        zdd_test::write_text(d / "f", text, 0600);
        const std::string msg = config_error({"--config", (d / "f").string()});
        INFO(msg);
        CHECK_THAT(msg, Catch::Contains((d / "f").string()) && Catch::Contains(expect));
        CHECK(msg.find(secret) == std::string::npos);
        CHECK(msg.find("s3cr3t") == std::string::npos);
        CHECK(msg.find('\n') == std::string::npos);
    };
    // A token file given as --config by mistake.
    check_no_leak("VIBE_DEPLOYMENT_TOKEN=" + secret + "\n", "line 1: unknown option");
    check_no_leak("export VIBE_DEPLOYMENT_TOKEN=" + secret + "\n", "line 1");
    check_no_leak(secret + "\n", "line 1: not a key = value line");  // a bare token file
    // An /etc/shadow-like file.
    check_no_leak("root:$6$" + secret + ":19000:0:99999:7:::\n", "line 1: not a key = value line");
    // Known keys with a secret as their value.
    check_no_leak("# x\ndrain-timeout = " + secret + "\n",
                  "line 2: invalid value for --drain-timeout");
    check_no_leak("runner=" + secret + "\n", "line 1: invalid value for --runner");
    check_no_leak("ports=" + secret + "\n", "line 1");
    check_no_leak("service=" + secret + " x\n", "--service");
    check_no_leak("[section]\nkey=" + secret + "\n", "line 1: sections are not supported");
    // A NUL byte neither cuts the message nor sneaks past the parser.
    check_no_leak(std::string("drain-timeout=1\0", 16) + secret + "\n", "line 1: holds a NUL byte");
    // The same for the environment.
    auto msg = config_error({}, {{"DRAIN_TIMEOUT", secret}});
    CHECK_THAT(msg, Catch::Contains("environment DRAIN_TIMEOUT"));
    CHECK(msg.find("s3cr3t") == std::string::npos);
    msg = config_error({}, {{"ZDD_BACKEND", secret}});
    CHECK_THAT(msg, Catch::Contains("environment ZDD_BACKEND"));
    CHECK(msg.find("s3cr3t") == std::string::npos);
}

TEST_CASE("the config file subset: quotes, lists, [default], underscores, duplicates") {
    zdd_test::TempDir d;
    zdd_test::write_text(d / "c.conf",
                         "[default]\n; a comment\nservice = \"svc\"\nports = [9000, 9001]\n"
                         "drain_timeout='2.5'\nstrict=true\n");
    Config c = parse({"--config", (d / "c.conf").string()});
    CHECK(c.service == "svc");
    CHECK(c.ports == std::array<uint16_t, 2>{9000, 9001});
    CHECK(c.drain_timeout == 2.5);
    CHECK(c.strict);
    zdd_test::write_text(d / "dup.conf", "strict=true\nstrict=false\n");
    CHECK_THAT(config_error({"--config", (d / "dup.conf").string()}),
               Catch::Contains("line 2: key 'strict' is set twice"));
}

namespace {

// Like zdd's main: the common options on the app too, a subcommand with its groups.
Config parse_sub(const std::vector<std::string>& args) {
    CLI::App app("zdd");
    Config before, cfg;
    add_options(app, before, kCommonOptions);
    auto* status = app.add_subcommand("status");
    add_options(*status, cfg, kCommonOptions | kMonitorOptions);
    std::vector<const char*> argv{"zdd"};
    for (auto& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    take_parent_options(app, *status);
    finalize(
        *status, cfg, [](const std::string&) { return std::nullopt; }, "");
    return cfg;
}

}  // namespace

TEST_CASE("common options before the subcommand count as given to it") {
    zdd_test::TempDir d;
    const auto file = (d / "zdd.conf").string();
    // A key of a group status does not take (deploy's) is no error for status.
    zdd_test::write_text(file, "idle-after=7\nexpect-version=2\n");
    const std::string state = (d / "state").string();
    const Config before = parse_sub({"--config", file, "--state-dir", state, "status"});
    const Config after = parse_sub({"status", "--config", file, "--state-dir", state});
    CHECK(before.state_dir == state);
    CHECK(before.idle_after == 7);  // read from the file named before the subcommand
    CHECK(before.config_file == after.config_file);
    CHECK(before.state_dir == after.state_dir);
    CHECK(before.idle_after == after.idle_after);
    CHECK(parse_sub({"--service", "a", "status", "--service", "b"}).service == "b");
    // Only the common group is accepted before the subcommand.
    CHECK_THROWS_AS(parse_sub({"--idle-after", "3", "status"}), CLI::ParseError);
}

namespace {

struct Run {
    int status;
    std::string out, err;
};

Run run_zdd(const std::vector<std::string>& args, const zdd_test::TempDir& d) {
    std::vector<std::string> argv{zdd_test::build_dir() + "/orchestrator/zdd"};
    argv.insert(argv.end(), args.begin(), args.end());
    zdd_test::Subprocess p(argv, {}, d.file("out"), d.file("err"));
    const int status = p.wait(std::chrono::seconds(30));
    return {status, zdd_test::read_text(d / "out"), zdd_test::read_text(d / "err")};
}

}  // namespace

TEST_CASE("zdd: --state-dir before or after the subcommand gives the same status") {
    zdd_test::TempDir d;
    const std::string state = (d / "state").string(), up = (d / "up.conf").string();
    const Run before =
        run_zdd({"--state-dir", state, "-q", "status", "--upstream-file", up, "--json"}, d);
    const Run after =
        run_zdd({"status", "--state-dir", state, "--upstream-file", up, "--json", "-v"}, d);
    INFO(before.err << after.err);
    CHECK(before.status == 0);
    CHECK(after.status == 0);
    CHECK_THAT(before.out, Catch::Contains(state + "/state.json"));
    CHECK(before.out == after.out);
    const Run wrong = run_zdd({"status", "--expect-version", "1"}, d);
    CHECK(wrong.status == 2);
    CHECK_THAT(wrong.err, Catch::StartsWith("[ERROR] ") && Catch::Contains("--expect-version"));
}

TEST_CASE("zdd: each subcommand's --help lists the options it uses") {
    zdd_test::TempDir d;
    const Run status = run_zdd({"status", "--help"}, d);
    CHECK(status.status == 0);
    for (const char* opt : {"--state-dir", "--config", "--idle-after", "--stuck-after", "--backend",
                            "--runner", "--upstream-file", "--json"})
        CHECK_THAT(status.out, Catch::Contains(opt));
    for (const char* opt : {"--expect-version", "--weights", "--health-timeout", "--run-as",
                            "--metrics-textfile", "--min-drain"})
        CHECK_THAT(status.out, !Catch::Contains(opt));
    const Run units = run_zdd({"install-units", "--help"}, d);
    CHECK_THAT(units.out, Catch::Contains("--run-as") && Catch::Contains("--dir"));
    CHECK_THAT(units.out, !Catch::Contains("--drain-timeout"));
    // deploy takes every option.
    CLI::App all;
    Config c;
    add_options(all, c);
    const Run deploy = run_zdd({"deploy", "--help"}, d);
    for (const CLI::Option* o : all.get_options())
        CHECK_THAT(deploy.out, Catch::Contains(o->get_name()));
    const Run top = run_zdd({"--help"}, d);
    CHECK_THAT(top.out, Catch::Contains("-v,--verbose") && Catch::Contains("-q,--quiet") &&
                            Catch::Contains("--state-dir"));
}
